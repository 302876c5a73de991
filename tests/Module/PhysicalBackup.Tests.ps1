# Physical backups from the module: a cluster archiving through pgbt-wal, Invoke-PgBackup -Type Physical, and
# Restore-PgDatabase -DataDirectory -Start recovering to an LSN in a real server.
BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-Module $ModulePath -Force
    $script:cluster = Start-TestCluster
    $script:server = @{ HostName = $cluster.Host; Port = $cluster.Port; Username = 'postgres' }
    $script:work = New-TestDirectory
    $script:repo = Join-Path $work 'repo'
    $script:restored = $null
}

AfterAll {
    if ($script:restored -and (Test-Path (Join-Path $script:restored 'postmaster.pid'))) {
        [PgBackupTools.TestKit.PgTestCluster]::RunAsServerUser((Join-Path $cluster.BinDirectory 'pg_ctl'), '-D', $script:restored, '-m', 'immediate', '-w', 'stop')
    }
    if ($script:cluster) { $script:cluster.Dispose() }
    Remove-Item -Recurse -Force $script:work -ErrorAction SilentlyContinue
}

Describe 'Invoke-PgBackup -Type Physical' {
    It 'refuses to report success while the WAL is not archived, and says how to fix it' {
        { Invoke-PgBackup -Repository $repo -Type Physical -ArchiveTimeoutSeconds 3 @server -ErrorAction Stop } |
            Should -Throw '*Enable-PgWalArchiving*'
        @(Get-PgBackup -Repository $repo).Count | Should -Be 0
    }

    It 'backs up the cluster once it archives into the repository, and a restore to an LSN holds exactly the rows before it' {
        # The refused backup above created the repository as root: Enable-PgWalArchiving would refuse it, so give it
        # to the server's user first, as its message says.
        [PgBackupTools.TestKit.PgTestCluster]::GiveToServerUser($work)
        $null = Enable-PgWalArchiving -Repository $repo @server -WarningAction SilentlyContinue
        $cluster.Stop(); $cluster.StartServer()
        $null = $cluster.Psql('CREATE TABLE t(id int); INSERT INTO t SELECT generate_series(1, 100)')

        $backup = Invoke-PgBackup -Repository $repo -Type Physical @server
        $backup | Should -BeOfType ([PgBackupTools.PgBackup])
        $backup.Type | Should -Be 'Physical'
        $backup.Files.Name | Should -Be 'base.tar.zst'
        $backup.Method | Should -Be 'FileCopy' -Because 'the tests run on the server''s host as root, so Auto copies the data directory'
        ($backup | Format-List | Out-String) | Should -Match 'Wal\s+: \S+ \.\. \S+ on timeline 1'
        ($backup | Format-Table | Out-String -Width 200) | Should -Match 'FileCopy/Zstd' -Because 'a physical backup has no dump format; its table row names the method'
        $backup.StopLsn | Should -Not -BeNullOrEmpty
        $backup.Timeline | Should -Be 1

        $null = $cluster.Psql('INSERT INTO t SELECT generate_series(101, 150)')
        $lsn = $cluster.Psql('SELECT pg_current_wal_lsn()')
        $null = $cluster.Psql('INSERT INTO t SELECT generate_series(151, 200)')
        $null = Switch-WalAndWait -Cluster $cluster

        $script:restored = Join-Path $work 'restored'
        New-Item -ItemType Directory $restored | Out-Null
        Set-Content (Join-Path $restored 'keep.txt') 'old'
        { Get-PgBackup -Repository $repo -Type Physical -Latest | Restore-PgDatabase -DataDirectory $restored -Confirm:$false -ErrorAction Stop } | Should -Throw '*not empty*'
        Get-Content (Join-Path $restored 'keep.txt') | Should -Be 'old'

        $port = [PgBackupTools.TestKit.PgTestCluster]::FindFreePort()
        # No -Backup: the newest physical backup that ends before the target LSN.
        $result = Restore-PgDatabase -Repository $repo -DataDirectory $restored -Force -TargetLsn $lsn -Port $port -Start -ArchiveMode Off
        $result | Should -BeOfType ([PgBackupTools.PgRestoreResult])
        $result.BackupId | Should -Be $backup.Id
        $result.RecoveryState | Should -Be 'promoted'
        $result.Timeline | Should -Be 2
        $result.MovedAsideTo | Should -BeLike "$restored.pgbt-old-*"
        Get-Content (Join-Path $result.MovedAsideTo 'keep.txt') | Should -Be 'old'
        $psql = Join-Path $cluster.BinDirectory 'psql'
        & $psql -X -A -t -h 127.0.0.1 -p $port -U postgres -d postgres -c 'SELECT count(*), max(id) FROM t' | Should -Be '150|150'

        # -ArchiveMode Off: the drill promoted to timeline 2 but archives nothing into production's stanza, so recovery
        # to latest from the backup still means timeline 1. (PhysicalRestoreArchiveTests proves following a promoted timeline.)
        & $psql -X -A -t -h 127.0.0.1 -p $port -U postgres -d postgres -c 'SHOW archive_mode' | Should -Be 'off'
        $null = & $psql -X -A -t -h 127.0.0.1 -p $port -U postgres -d postgres -c 'CREATE TABLE drill_only(x int); SELECT pg_switch_wal()'
        Start-Sleep -Seconds 2
        [PgBackupTools.TestKit.PgTestCluster]::RunAsServerUser((Join-Path $cluster.BinDirectory 'pg_ctl'), '-D', $script:restored, '-m', 'fast', '-w', 'stop')
        @(Get-ChildItem (Join-Path $repo 'wal/main') -Directory | Where-Object Name -ne '00000001') | Should -BeNullOrEmpty
    }

    It 'Test-PgBackup -Restore proves a physical backup in a scratch server: pg_verifybackup, recovery to its consistent point, queries' {
        $test = Get-PgBackup -Repository $repo -Type Physical -Latest | Test-PgBackup -Restore -Query 'SELECT count(*) = 100 FROM t' @server
        $test.Passed | Should -BeTrue -Because ((($test.Checks | Where-Object { -not $_.Passed } | ForEach-Object { "$($_.Kind): $($_.Actual)" }) -join "; ") + $test.Error)
        $test.Restored | Should -BeTrue
        $test.Checks.Kind | Should -Contain 'VerifyBackup'
        $test.Checks.Kind | Should -Contain 'Recovery'
        Test-Path $test.ScratchDatabase | Should -BeFalse
    }

    It '-Method BaseBackup streams pg_basebackup instead, and Test-PgBackup -Restore proves that backup too' {
        $streamed = Invoke-PgBackup -Repository $repo -Type Physical -Method BaseBackup @server
        $streamed.Method | Should -Be 'BaseBackup'
        $streamed.ClientVersion | Should -BeLike '*pg_basebackup'
        $test = $streamed | Test-PgBackup -Restore -Query 'SELECT count(*) >= 100 FROM t' @server
        $test.Passed | Should -BeTrue -Because ((($test.Checks | Where-Object { -not $_.Passed } | ForEach-Object { "$($_.Kind): $($_.Actual)" }) -join "; ") + $test.Error)
        $test.Checks.Kind | Should -Contain 'VerifyBackup'
    }

    It 'refuses a restore past a segment deleted from the middle of the archive, names it, writes nothing; Test-PgWalArchive and Test-PgBackup report it' {
        $names = foreach ($i in 1..3) {
            $cluster.Psql('INSERT INTO t SELECT generate_series(1, 10); SELECT pg_walfile_name(pg_current_wal_lsn())')
            $null = $cluster.Psql('SELECT pg_switch_wal()')
        }
        Wait-WalArchived -Cluster $cluster -Name $names[-1]
        $middle = $names[1]
        Remove-Item (Join-Path $repo "wal/main/00000001/$middle.zst")

        $target = Join-Path $work 'gap'
        $port = [PgBackupTools.TestKit.PgTestCluster]::FindFreePort()
        Get-PgBackup -Repository $repo -Type Physical -Latest |
            Restore-PgDatabase -DataDirectory $target -Port $port -Start -Confirm:$false -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $err[0].Exception.Message | Should -Match $middle
        $err[0].Exception.Message | Should -Match 'nothing was written'
        $err[0].CategoryInfo.Category | Should -Be 'InvalidData'
        Test-Path $target | Should -BeFalse

        (Test-PgWalArchive -Repository $repo).MissingRanges.First | Should -Be $middle
        $test = Get-PgBackup -Repository $repo -Type Physical -Latest | Test-PgBackup -Restore @server -ErrorVariable testErr -ErrorAction SilentlyContinue
        $test.Passed | Should -BeFalse
        $testErr[0].Exception.Message | Should -Match $middle
        ($test.Checks | Where-Object Kind -eq 'WalArchive').Actual | Should -Match $middle
    }
}
