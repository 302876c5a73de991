BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:cluster = Start-TestCluster
    $script:db = New-AuditDatabase -Cluster $cluster -Rows 500
    $script:examples = Join-Path $RepoRoot 'examples'
    $script:pwsh = Join-Path $PSHOME 'pwsh'
}

AfterAll {
    if ($script:cluster) { $script:cluster.Dispose() }
}

Describe 'The example scripts' {
    It 'all parse' {
        foreach ($file in Get-ChildItem $examples -Filter *.ps1) {
            $errors = $null
            [System.Management.Automation.Language.Parser]::ParseFile($file.FullName, [ref]$null, [ref]$errors) | Out-Null
            $errors | Should -BeNullOrEmpty -Because $file.Name
        }
    }

    It 'Invoke-NightlyBackup.ps1 backs up, applies retention, proves the backup, and exits 0' {
        $repo = New-TestDirectory
        foreach ($run in 1..3) {
            $output = & $pwsh -NoProfile -NonInteractive -File (Join-Path $examples 'Invoke-NightlyBackup.ps1') -Repository $repo -Database $db `
                -RetentionDays 0 -KeepLast 2 -HostName $cluster.Host -Port $cluster.Port -Username postgres -ModulePath $ModulePath
            $LASTEXITCODE | Should -Be 0 -Because ($output -join "`n")
        }
        $output | Should -Match "OK backup .* of $db.*test restore passed"
        Import-Module $ModulePath
        (Get-PgBackup -Repository $repo).Count | Should -Be 2
        Remove-Item -Recurse -Force $repo
    }

    It 'Invoke-NightlyBackup.ps1 exits non-zero and says why when a database fails' {
        $repo = New-TestDirectory
        $output = & $pwsh -NoProfile -NonInteractive -File (Join-Path $examples 'Invoke-NightlyBackup.ps1') -Repository $repo -Database "$db,no_such_db" `
            -SkipTestRestore -HostName $cluster.Host -Port $cluster.Port -Username postgres -ModulePath $ModulePath
        $LASTEXITCODE | Should -Be 1
        ($output -join "`n") | Should -Match "OK backup .* of $db"
        ($output -join "`n") | Should -Match "FAILED no_such_db: .*does not exist"
        Remove-Item -Recurse -Force $repo
    }

    It 'the Kubernetes CronJob manifest runs the nightly script without putting the password on the command line' {
        $yaml = Get-Content (Join-Path $examples 'kubernetes-cronjob.yaml') -Raw
        $yaml | Should -Match 'Invoke-NightlyBackup\.ps1'
        $yaml | Should -Match 'secretKeyRef'
        $yaml | Should -Not -Match 'PGPASSWORD=|--password'
    }
}
