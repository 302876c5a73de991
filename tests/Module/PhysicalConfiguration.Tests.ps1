# A cluster laid out as Debian's and Ubuntu's (postgresql.conf, pg_hba.conf, pg_ident.conf and conf.d outside the data
# directory, started with -c config_file=...) through the cmdlets: Invoke-PgBackup carries that configuration and warns
# about a file it cannot read, and Restore-PgDatabase -Start into a new directory starts on it with no step by hand.
BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-Module $ModulePath -Force
    $script:cluster = Start-TestCluster
    $script:server = @{ HostName = $cluster.Host; Port = $cluster.Port; Username = 'postgres' }
    $script:work = New-TestDirectory
    $script:repo = Join-Path $work 'repo'
    $script:etc = Join-Path $work 'etc'
    $script:restored = Join-Path $work 'restored'
    [PgBackupTools.TestKit.PgTestCluster]::GiveToServerUser($work)
    $null = Enable-PgWalArchiving -Repository $repo @server -WarningAction SilentlyContinue
    $null = $cluster.Psql('CREATE TABLE t AS SELECT generate_series(1, 300) AS id')

    $cluster.Stop()
    New-Item -ItemType Directory (Join-Path $etc 'conf.d') | Out-Null
    foreach ($name in 'postgresql.conf', 'pg_hba.conf', 'pg_ident.conf') { Move-Item (Join-Path $cluster.DataDirectory $name) $etc }
    Add-Content (Join-Path $etc 'postgresql.conf') "`ndata_directory = '$($cluster.DataDirectory)'`nhba_file = '$etc/pg_hba.conf'`nident_file = '$etc/pg_ident.conf'`ninclude_dir = 'conf.d'"
    Set-Content (Join-Path $etc 'conf.d/50-pgbt.conf') "work_mem = '7MB'"
    [PgBackupTools.TestKit.PgTestCluster]::GiveToServerUser($etc)
    [PgBackupTools.TestKit.PgTestCluster]::RunAsServerUser((Join-Path $cluster.BinDirectory 'pg_ctl'), '-D', $cluster.DataDirectory,
        '-o', "-c config_file=$etc/postgresql.conf", '-l', $cluster.LogFile, '-w', '-t', '60', 'start')
}

AfterAll {
    if (Test-Path (Join-Path $script:restored 'postmaster.pid')) {
        [PgBackupTools.TestKit.PgTestCluster]::RunAsServerUser((Join-Path $cluster.BinDirectory 'pg_ctl'), '-D', $script:restored, '-m', 'immediate', '-w', 'stop')
    }
    if ($script:cluster) { $script:cluster.Dispose() }
    Remove-Item -Recurse -Force $script:work -ErrorAction SilentlyContinue
}

Describe 'Physical backups of a server configured outside its data directory' {
    It 'carry the configuration, and a restore with -Start into a new directory runs on it' {
        $backup = Invoke-PgBackup -Repository $repo -Type Physical @server -WarningVariable warnings
        $warnings | Should -BeNullOrEmpty
        $backup.Configuration.ConfigFile | Should -Be "$etc/postgresql.conf"
        @($backup.Configuration.Files | Where-Object BackupFile).Count | Should -Be 4
        $backup.Files.Name | Should -Contain "config$etc/conf.d/50-pgbt.conf.zst"
        ($backup | Format-List | Out-String -Width 300) | Should -Match ([regex]::Escape("$etc/pg_hba.conf carried as config$etc/pg_hba.conf.zst"))

        $port = [PgBackupTools.TestKit.PgTestCluster]::FindFreePort()
        $result = $backup | Restore-PgDatabase -DataDirectory $restored -Port $port -Start -ArchiveMode Off -Confirm:$false
        $result.RecoveryState | Should -Be 'promoted'
        $result.ConfigurationFiles | Should -Contain (Join-Path $restored 'postgresql.conf')
        ($result | Format-List | Out-String -Width 300) | Should -Match 'ConfigurationFiles\s+: .*postgresql\.conf'
        $psql = Join-Path $cluster.BinDirectory 'psql'
        & $psql -h 127.0.0.1 -p $port -U postgres -d postgres -Atc "SELECT count(*) || ' ' || current_setting('work_mem') || ' ' || current_setting('data_directory') FROM t" |
            Should -Be "300 7MB $restored"
        $cluster.Psql('SHOW data_directory') | Should -Be $cluster.DataDirectory
    }

    It 'warn about a configuration file they cannot read, and still succeed' {
        Move-Item "$etc/pg_ident.conf" "$etc/pg_ident.conf.moved"
        try {
            $backup = Invoke-PgBackup -Repository $repo -Type Physical @server -WarningVariable warnings -WarningAction SilentlyContinue
        }
        finally {
            Move-Item "$etc/pg_ident.conf.moved" "$etc/pg_ident.conf"
        }
        $backup | Should -BeOfType ([PgBackupTools.PgBackup])
        @($warnings).Count | Should -Be 1
        "$($warnings[0])" | Should -BeLike "$etc/pg_ident.conf, a configuration file of * is not in backup $($backup.Id): *"
        ($backup.Configuration.Files | Where-Object Path -EQ "$etc/pg_ident.conf").NotCaptured | Should -Not -BeNullOrEmpty
        Get-PgBackup -Repository $repo -Id $backup.Id | Should -Not -BeNullOrEmpty
    }
}
