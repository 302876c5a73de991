BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:cluster = Start-TestCluster
    $script:db = New-AuditDatabase -Cluster $cluster -Rows 100
    $script:otherNpgsql = Get-ChildItem (Join-Path $RepoRoot 'tools/packages/npgsql/8.0.9/lib/net8.0') -Filter Npgsql.dll | Select-Object -ExpandProperty FullName
}

AfterAll {
    if ($script:cluster) { $script:cluster.Dispose() }
}

Describe 'Dependency isolation' {
    It 'imports and backs up in a session that already loaded another Npgsql, as Az or AWS.Tools sessions do' {
        $repo = New-TestDirectory
        $script = @"
`$ErrorActionPreference = 'Stop'
Add-Type -Path '$otherNpgsql'
`$before = [Npgsql.NpgsqlConnection].Assembly.GetName().Version
Import-Module '$ModulePath'
`$backup = Invoke-PgBackup -Repository '$repo' -Database '$db' -HostName $($cluster.Host) -Port $($cluster.Port) -Username postgres
`$test = `$backup | Test-PgBackup -Restore -HostName $($cluster.Host) -Port $($cluster.Port) -Username postgres
"`$before|`$([Npgsql.NpgsqlConnection].Assembly.GetName().Version)|`$(`$test.Passed)"
"@
        $output = & (Join-Path $PSHOME 'pwsh') -NoProfile -NonInteractive -Command $script 2>&1
        $LASTEXITCODE | Should -Be 0 -Because ($output -join "`n")
        @($output)[-1] | Should -Be '8.0.9.0|8.0.9.0|True' -Because 'the session keeps its own Npgsql while the module uses its private one'
        Remove-Item -Recurse -Force $repo
    }

    It 'cmdlets reference only the core, the model and the framework, so no dependency is needed before the private context resolves it' {
        Import-Module $ModulePath
        $references = (Get-Command Invoke-PgBackup).ImplementingType.Assembly.GetReferencedAssemblies().Name
        $references | Where-Object { $_ -notmatch '^(System(\..*)?|netstandard|mscorlib|Microsoft\.Win32\..*|PgBackupTools\.(Core|Model))$' } |
            Should -BeNullOrEmpty -Because 'a cmdlet that touches Npgsql, AWSSDK or Azure types directly fails to load beside other modules'
    }

    It 'keeps third-party assemblies out of the module folder, where the default context could pick them up' {
        $moduleDir = Split-Path $ModulePath
        (Get-ChildItem $moduleDir -Filter '*.dll').Name | Sort-Object | Should -Be @('PgBackupTools.dll', 'PgBackupTools.Model.dll')
        Join-Path $moduleDir 'dependencies/Npgsql.dll' | Should -Exist
    }
}
