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
    It 'refuses a server that archives nothing at once, before it creates the repository, and says how to fix it' {
        { Invoke-PgBackup -Repository $repo -Type Physical @server -ErrorAction Stop } |
            Should -Throw '*(archive_mode is off)*Enable-PgWalArchiving*'
        Test-Path $repo | Should -BeFalse
    }

    It 'backs up the cluster once it archives into the repository, and a restore to an LSN holds exactly the rows before it' {
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

    It 'refuses to keep a backup whose WAL goes to another repository, and names the archiver''s settings' {
        $elsewhere = Join-Path $work 'elsewhere'
        { Invoke-PgBackup -Repository $elsewhere -Type Physical -ArchiveTimeoutSeconds 3 @server -ErrorAction Stop } |
            Should -Throw "*did not reach the WAL archive*Enable-PgWalArchiving -Repository '$elsewhere'*archive_mode=on*"
        @(Get-PgBackup -Repository $elsewhere).Count | Should -Be 0
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

Describe 'A physical backup killed with SIGKILL halfway' {
    BeforeAll {
        # Enough data that the copy is still running when it is killed; md5 text compresses only about twofold.
        $null = $cluster.Psql('CREATE TABLE IF NOT EXISTS killed_big AS SELECT g, md5(g::text) || md5((g + 1)::text) AS t FROM generate_series(1, 1500000) g')
    }

    It 'by <Method>: leaves nothing Get-PgBackup lists and no server session behind, and the next backup succeeds' -ForEach @(
        @{ Method = 'FileCopy' }, @{ Method = 'BaseBackup' }
    ) {
        $before = @(Get-PgBackup -Repository $repo -Type Physical).Id
        $script = "Import-Module '$ModulePath'; Invoke-PgBackup -Repository '$repo' -Type Physical -Method $Method -HostName $($cluster.Host) -Port $($cluster.Port) -Username postgres"
        $psi = [Diagnostics.ProcessStartInfo]::new((Join-Path $PSHOME 'pwsh'))
        foreach ($a in '-NoProfile', '-NonInteractive', '-Command', $script) { $psi.ArgumentList.Add($a) }
        $proc = [Diagnostics.Process]::Start($psi)
        $deadline = [DateTime]::UtcNow.AddSeconds(120)
        while ([DateTime]::UtcNow -lt $deadline -and -not $proc.HasExited -and
            -not (Get-ChildItem (Join-Path $repo 'backups') -Recurse -File -Force -Filter '*.pgbt-tmp-*' -ErrorAction SilentlyContinue | Where-Object Length -gt 1MB)) {
            Start-Sleep -Milliseconds 50
        }
        Get-ChildItem (Join-Path $repo 'backups') -Recurse -File -Force -Filter '*.pgbt-tmp-*' | Should -Not -BeNullOrEmpty -Because 'the backup must be halfway when killed'
        $proc.Kill($true) # SIGKILL, and pg_basebackup with it
        $proc.WaitForExit()

        @(Get-PgBackup -Repository $repo -Type Physical).Id | Should -Be $before
        # The server ends a non-exclusive backup with its session; nothing of the killed run may still be connected.
        $deadline = [DateTime]::UtcNow.AddSeconds(30)
        while ([DateTime]::UtcNow -lt $deadline -and
            $cluster.Psql("SELECT count(*) FROM pg_stat_activity WHERE backend_type IN ('client backend', 'walsender') AND pid <> pg_backend_pid()") -ne '0') {
            Start-Sleep -Milliseconds 200
        }
        $cluster.Psql("SELECT count(*) FROM pg_stat_activity WHERE backend_type IN ('client backend', 'walsender') AND pid <> pg_backend_pid()") | Should -Be '0'

        $next = Invoke-PgBackup -Repository $repo -Type Physical -Method $Method @server
        @(Get-PgBackup -Repository $repo -Type Physical).Id | Should -Be (@($before) + $next.Id)
        ($next | Test-PgBackup).Passed | Should -BeTrue
    }
}
