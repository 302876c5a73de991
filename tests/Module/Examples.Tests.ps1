BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:cluster = Start-TestCluster
    $script:db = New-AuditDatabase -Cluster $cluster -Rows 500
    $script:examples = Join-Path $RepoRoot 'examples'
    $script:pwsh = Join-Path $PSHOME 'pwsh'
}

AfterAll {
    if ($script:restoredDir -and (Test-Path (Join-Path $script:restoredDir 'postmaster.pid'))) {
        [PgBackupTools.TestKit.PgTestCluster]::RunAsServerUser((Join-Path $cluster.BinDirectory 'pg_ctl'), '-D', $script:restoredDir, '-m', 'immediate', '-w', 'stop')
    }
    if ($script:cluster) { $script:cluster.Dispose() }
    if ($script:drWork) { Remove-Item -Recurse -Force $script:drWork -ErrorAction SilentlyContinue }
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

Describe 'The Azure Automation runbook' {
    BeforeAll {
        # Get-AutomationPSCredential exists only inside Azure Automation: the one stub, for that cmdlet alone.
        $script:stub = @'
function Get-AutomationPSCredential {
    param([string]$Name)
    if ($Name -ne 'PostgreSQL') { return $null }
    [pscredential]::new('postgres', (ConvertTo-SecureString 'not-used-by-trust-auth' -AsPlainText -Force))
}
'@
        $script:runbook = Join-Path $examples 'Invoke-AzureAutomationBackup.ps1'
    }

    It 'backs up with the credential asset, proves the backup, reports the objectives, and succeeds' {
        $repo = New-TestDirectory
        $output = & $pwsh -NoProfile -NonInteractive -Command "$stub; & '$runbook' -Repository '$repo' -Database '$db' -HostName '$($cluster.Host)' -Port $($cluster.Port) -ModulePath '$ModulePath'"
        $LASTEXITCODE | Should -Be 0 -Because ($output -join "`n")
        ($output -join "`n") | Should -Match "OK backup .* of $db"
        ($output -join "`n") | Should -Match 'OK test restore of'
        ($output -join "`n") | Should -Match 'Objective\s+Target\s+Measured\s+Evidence\s+Status'
        Remove-Item -Recurse -Force $repo
    }

    It 'fails the job, after trying every database, when one fails or the credential asset is missing' {
        $repo = New-TestDirectory
        $output = & $pwsh -NoProfile -NonInteractive -Command "$stub; & '$runbook' -Repository '$repo' -Database 'no_such_db,$db' -SkipTestRestore -HostName '$($cluster.Host)' -Port $($cluster.Port) -ModulePath '$ModulePath'" 2>&1
        $LASTEXITCODE | Should -Not -Be 0
        ($output -join "`n") | Should -Match "OK backup .* of $db"
        ($output -join "`n") | Should -Match 'failed for 1 database\(s\): no_such_db'
        $output = & $pwsh -NoProfile -NonInteractive -Command "$stub; & '$runbook' -Repository '$repo' -Database '$db' -CredentialName Missing -HostName '$($cluster.Host)' -ModulePath '$ModulePath'" 2>&1
        $LASTEXITCODE | Should -Not -Be 0
        ($output -join "`n") | Should -Match "credential asset 'Missing'"
        Remove-Item -Recurse -Force $repo
    }
}

Describe 'The crontab' {
    It 'has valid schedules, runs only shipped scripts and module cmdlets non-interactively, and holds no secret' {
        $lines = Get-Content (Join-Path $examples 'crontab') | Where-Object { $_ -and $_ -notmatch '^\s*#' -and $_ -notmatch '^[A-Z_]+=' }
        $lines.Count | Should -BeGreaterOrEqual 3
        $field = '(\*|\d+(-\d+)?)(/\d+)?(,(\d+(-\d+)?))*'
        foreach ($line in $lines) {
            $line | Should -Match "^$field\s+$field\s+$field\s+$field\s+$field\s+pwsh -NoProfile -NonInteractive (-File|-Command) "
            foreach ($script in [regex]::Matches($line, '/opt/pgbackup/examples/(\S+\.ps1)')) {
                Test-Path (Join-Path $examples $script.Groups[1].Value) | Should -BeTrue -Because $line
            }
            foreach ($cmd in [regex]::Matches($line, '\b([A-Z][a-z]+-Pg[A-Za-z]+)\b')) {
                Get-Command $cmd.Groups[1].Value -Module PgBackupTools -ErrorAction SilentlyContinue | Should -Not -BeNullOrEmpty -Because $line
            }
            $line | Should -Not -Match 'PGPASSWORD|PGBACKUPTOOLS_PASSPHRASE=|-Passphrase '
        }
        ($lines -join "`n") | Should -Match 'Invoke-NightlyBackup\.ps1'
        ($lines -join "`n") | Should -Match 'Export-PgBackupMetric'
        ($lines -join "`n") | Should -Match 'Invoke-MonthlyVerification\.ps1'
    }
}

Describe 'The monthly verification job' {
    BeforeAll {
        Import-Module $ModulePath
        $script:monthly = Join-Path $examples 'Invoke-MonthlyVerification.ps1'
        $script:verifyRepo = New-TestDirectory
        $script:verified = Invoke-PgBackup -Repository $verifyRepo -Database $db -HostName $cluster.Host -Port $cluster.Port -Username postgres
    }
    AfterAll { Remove-Item -Recurse -Force $script:verifyRepo -ErrorAction SilentlyContinue }

    It 'restore-tests the newest backups, writes the metrics and the report, and exits 0' {
        $prom = Join-Path $verifyRepo 'out.prom'
        $output = & $pwsh -NoProfile -NonInteractive -File $monthly -Repository $verifyRepo -MetricsPath $prom -HostName $cluster.Host -Port $cluster.Port -Username postgres -ModulePath $ModulePath
        $LASTEXITCODE | Should -Be 0 -Because ($output -join "`n")
        ($output -join "`n") | Should -Match "OK test restore of database $db $($verified.Id)"
        ($output -join "`n") | Should -Match 'Objective\s+Target\s+Measured\s+Evidence\s+Status'
        ($output -join "`n") | Should -Not -Match 'PercentComplete|Processing'
        $metrics = ConvertFrom-PrometheusText -Text ([IO.File]::ReadAllText($prom))
        (Find-Metric $metrics 'postgres_backup_test_restore_last_success' @{ database = $db })[0].Value | Should -Be 1
    }

    It 'exits 1 and says which backup failed when a test restore fails' {
        $file = Join-Path $verifyRepo "backups/$($verified.Stanza)/$($verified.Id)/$($verified.Files[0].Name)"
        $bytes = [IO.File]::ReadAllBytes($file); $bytes[-5] = $bytes[-5] -bxor 0xFF; [IO.File]::WriteAllBytes($file, $bytes)
        $output = & $pwsh -NoProfile -NonInteractive -File $monthly -Repository $verifyRepo -HostName $cluster.Host -Port $cluster.Port -Username postgres -ModulePath $ModulePath
        $LASTEXITCODE | Should -Be 1
        ($output -join "`n") | Should -Match "FAILED test restore of database $db $($verified.Id).*Checksum mismatch"
    }

    It 'exits 1 when the repository holds no backup' {
        $empty = New-TestDirectory
        $output = & $pwsh -NoProfile -NonInteractive -File $monthly -Repository $empty -ModulePath $ModulePath 2>&1
        $LASTEXITCODE | Should -Be 1
        Remove-Item -Recurse -Force $empty
    }
}

Describe 'The disaster-recovery runbook' {
    BeforeAll {
        Import-Module $ModulePath
        $script:dr = Join-Path $examples 'Invoke-DisasterRecovery.ps1'
        $script:drWork = New-TestDirectory
        $script:drRepo = Join-Path $drWork 'repo'
        $server = @{ HostName = $cluster.Host; Port = $cluster.Port; Username = 'postgres' }
        $null = Enable-PgWalArchiving -Repository $drRepo -ArchiveTimeout 30 @server -WarningAction SilentlyContinue
        [PgBackupTools.TestKit.PgTestCluster]::GiveToServerUser($drWork)
        $cluster.Stop(); $cluster.StartServer()
        $script:physical = Invoke-PgBackup -Repository $drRepo -Type Physical @server
        # After the backup: rows only WAL replay can bring back.
        $null = $cluster.Psql('CREATE TABLE dr_marker(x int); INSERT INTO dr_marker SELECT generate_series(1, 42)', $db)
        $null = Switch-WalAndWait -Cluster $cluster
    }

    It '-WhatIf finds and verifies the newest good backup, and stops, moves and restores nothing' {
        $before = @(Get-ChildItem -Force $cluster.DataDirectory).Name
        $output = & $pwsh -NoProfile -NonInteractive -File $dr -Repository $drRepo -DataDirectory $cluster.DataDirectory -VerifyDatabase $db -WhatIf -ModulePath $ModulePath
        $LASTEXITCODE | Should -Be 0 -Because ($output -join "`n")
        $text = $output -join "`n"
        $text | Should -Match "1\. Find newest good backup\s+done\s+$($physical.Id)"
        $text | Should -Match '2\. Verify backup\s+done'
        $text | Should -Match '3\. Stop old server\s+WhatIf'
        $text | Should -Match '4\. Move old data aside\s+WhatIf'
        $text | Should -Match '5\. Restore with PITR target\s+WhatIf'
        $text | Should -Match '7\. Verify row counts\s+WhatIf'
        $cluster.IsRunning | Should -BeTrue
        $cluster.Psql('SELECT count(*) FROM dr_marker', $db) | Should -Be '42'
        @(Get-ChildItem -Force $cluster.DataDirectory).Name | Should -Be $before
    }

    It 'recovers the cluster into a data directory to the end of the archived WAL, verifies the row counts, and reports' {
        $script:restoredDir = Join-Path $drWork 'restored'
        $port = [PgBackupTools.TestKit.PgTestCluster]::FindFreePort()
        $output = & $dr -Repository $drRepo -DataDirectory $restoredDir -Port $port -VerifyDatabase $db -ExpectedMinimumRows @{ "${db}:public.dr_marker" = 42 } -Rehearsal `
            -BinDirectory $cluster.BinDirectory -ModulePath $ModulePath -Confirm:$false
        $LASTEXITCODE | Should -Be 0 -Because ($output -join "`n")
        $text = $output -join "`n"
        $text | Should -Match '3\. Stop old server\s+skipped'
        $text | Should -Match "5\. Restore with PITR target\s+done\s+$($physical.Id) restored"
        $text | Should -Match "6\. Start server\s+done\s+promoted on port $port"
        $text | Should -Match "7\. Verify row counts\s+done\s+${db}: .*public\.dr_marker=42"
        $text | Should -Match 'Recovery finished after'
        # A rehearsal archives nothing: only timeline 1 is in the stanza.
        @(Get-ChildItem (Join-Path $drRepo 'wal/main') -Directory).Name | Should -Be @('00000001')
    }

    It 'exits 1 when the recovered data does not meet the expected row counts' {
        # A higher expectation than the recovered data holds must fail the run.
        $again = Join-Path $drWork 'restored2'
        $output = & $dr -Repository $drRepo -DataDirectory $again -Port ([PgBackupTools.TestKit.PgTestCluster]::FindFreePort()) -VerifyDatabase $db `
            -ExpectedMinimumRows @{ "${db}:public.dr_marker" = 43 } -Rehearsal -BinDirectory $cluster.BinDirectory -ModulePath $ModulePath -Confirm:$false
        $LASTEXITCODE | Should -Be 1
        ($output -join "`n") | Should -Match 'dr_marker=42 \(expected at least 43\)'
        ($output -join "`n") | Should -Match 'Recovery FAILED'
        if (Test-Path (Join-Path $again 'postmaster.pid')) {
            [PgBackupTools.TestKit.PgTestCluster]::RunAsServerUser((Join-Path $cluster.BinDirectory 'pg_ctl'), '-D', $again, '-m', 'immediate', '-w', 'stop')
        }
    }

    It 'recovers the live cluster in place: stops it, keeps the old data aside, restores, starts it on its port and verifies' {
        $null = $cluster.Psql('INSERT INTO dr_marker SELECT generate_series(43, 50)', $db)
        $null = Switch-WalAndWait -Cluster $cluster
        $output = & $dr -Repository $drRepo -DataDirectory $cluster.DataDirectory -Port $cluster.Port -VerifyDatabase $db `
            -ExpectedMinimumRows @{ "${db}:public.dr_marker" = 50 } -BinDirectory $cluster.BinDirectory -ModulePath $ModulePath -Confirm:$false
        $LASTEXITCODE | Should -Be 0 -Because ($output -join "`n")
        $text = $output -join "`n"
        $text | Should -Match '3\. Stop old server\s+done\s+stopped'
        $text -match '4\. Move old data aside\s+done\s+kept in (\S+)' | Should -BeTrue -Because $text
        Test-Path (Join-Path $Matches[1] 'PG_VERSION') | Should -BeTrue
        $text | Should -Match "7\. Verify row counts\s+done\s+${db}: .*public\.dr_marker=50"
        $cluster.Psql('SELECT count(*) FROM dr_marker', $db) | Should -Be '50'
        $cluster.Psql('SELECT pg_is_in_recovery()') | Should -Be 'f'
    }
}
