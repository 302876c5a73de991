# A cluster with a tablespace from the module: Invoke-PgBackup -Type Physical carries it (and Get-PgBackup shows it),
# -Method BaseBackup refuses it naming -Method FileCopy, and Restore-PgDatabase -TablespaceMapping puts it elsewhere.
BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-Module $ModulePath -Force
    $script:cluster = Start-TestCluster
    $script:server = @{ HostName = $cluster.Host; Port = $cluster.Port; Username = 'postgres' }
    $script:work = New-TestDirectory
    $script:repo = Join-Path $work 'repo'
    $script:location = Join-Path $work 'fast-disk'
    $script:restored = Join-Path $work 'restored'
    New-Item -ItemType Directory $location | Out-Null
    $null = Enable-PgWalArchiving -Repository $repo @server -WarningAction SilentlyContinue
    [PgBackupTools.TestKit.PgTestCluster]::GiveToServerUser($work)
    $cluster.Stop(); $cluster.StartServer()
    $null = $cluster.Psql("CREATE TABLESPACE fast LOCATION '$location'")
    $null = $cluster.Psql('CREATE TABLE fast_rows(id int) TABLESPACE fast; INSERT INTO fast_rows SELECT generate_series(1, 100)')
}

AfterAll {
    if (Test-Path (Join-Path $script:restored 'postmaster.pid')) {
        [PgBackupTools.TestKit.PgTestCluster]::RunAsServerUser((Join-Path $cluster.BinDirectory 'pg_ctl'), '-D', $script:restored, '-m', 'immediate', '-w', 'stop')
    }
    if ($script:cluster) { $script:cluster.Dispose() }
    Remove-Item -Recurse -Force $script:work -ErrorAction SilentlyContinue
}

Describe 'Physical backups of a cluster with a tablespace' {
    It 'refuses -Method BaseBackup before anything is stored, saying to use -Method FileCopy' {
        { Invoke-PgBackup -Repository $repo -Type Physical -Method BaseBackup @server -ErrorAction Stop } | Should -Throw '*-Method FileCopy*'
        @(Get-PgBackup -Repository $repo).Count | Should -Be 0
    }

    It 'copies the tablespace, Get-PgBackup lists it, and Restore-PgDatabase -TablespaceMapping restores it into a new directory' {
        $backup = Invoke-PgBackup -Repository $repo -Type Physical @server
        $backup.Method | Should -Be 'FileCopy'
        $listed = Get-PgBackup -Repository $repo -Type Physical -Latest
        $listed.Tablespaces.Name | Should -Be 'fast'
        $listed.Tablespaces.Location | Should -Be $location
        ($listed | Format-List | Out-String) | Should -Match "Tablespaces\s+: fast \(oid \d+\) at $([regex]::Escape($location))"

        $target = Join-Path $work 'restored-fast'
        { $listed | Restore-PgDatabase -DataDirectory $restored -TablespaceMapping @{ '/no/such/tablespace' = $target } -Immediate -Confirm:$false -ErrorAction Stop } |
            Should -Throw '*not the location of a tablespace*'
        Test-Path $restored | Should -BeFalse

        $port = [PgBackupTools.TestKit.PgTestCluster]::FindFreePort()
        $result = $listed | Restore-PgDatabase -DataDirectory $restored -TablespaceMapping @{ $location = $target } -Immediate -Port $port -Start -ArchiveMode Off -Confirm:$false
        $result.RecoveryState | Should -Be 'promoted'
        $result.Tablespaces.Location | Should -Be $target
        ($result | Format-List | Out-String) | Should -Match "Tablespaces\s+: fast \(oid \d+\) in $([regex]::Escape($target))"
        $psql = Join-Path $cluster.BinDirectory 'psql'
        & $psql -X -A -t -h 127.0.0.1 -p $port -U postgres -d postgres -c 'SELECT count(*) FROM fast_rows' | Should -Be '100'
        & $psql -X -A -t -h 127.0.0.1 -p $port -U postgres -d postgres -c "SELECT pg_tablespace_location(oid) FROM pg_tablespace WHERE spcname = 'fast'" | Should -Be $target
    }

    It 'Test-PgBackup -Restore proves it with the tablespace in a scratch directory, not its original location (the live server''s)' {
        $test = Get-PgBackup -Repository $repo -Type Physical -Latest | Test-PgBackup -Restore -Query "SELECT pg_tablespace_location(oid) <> '$location' FROM pg_tablespace WHERE spcname = 'fast'", 'SELECT count(*) = 100 FROM fast_rows' @server
        $test.Passed | Should -BeTrue -Because ((($test.Checks | Where-Object { -not $_.Passed } | ForEach-Object { "$($_.Kind): $($_.Actual)" }) -join "; ") + $test.Error)
        ($test.Checks | Where-Object Kind -eq 'VerifyBackup').Actual | Should -Be 'verified'
        Test-Path "$($test.ScratchDatabase)-tablespaces" | Should -BeFalse
    }

    It 'refuses -TablespaceMapping for a Snapshot backup, whose tablespaces are on its restored volumes' {
        $snapshot = [PgBackupTools.PgBackup]@{ Id = 'snap'; Type = 'Snapshot'; Stanza = 'main'; Repository = $repo }
        $dir = Join-Path $work 'snapshot-restore'
        { $snapshot | Restore-PgDatabase -DataDirectory $dir -TablespaceMapping @{ $location = (Join-Path $work 'x') } -Confirm:$false -ErrorAction Stop } |
            Should -Throw '*Snapshot backup*'
        Test-Path $dir | Should -BeFalse
    }
}
