# WAL archiving from the module: Enable-PgWalArchiving points a real cluster at the Native AOT pgbt-wal entry point,
# PostgreSQL archives through it, and the cmdlets push, fetch and check the same archive.
BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-Module $ModulePath -Force
    $script:cluster = Start-TestCluster
    $script:server = @{ HostName = $cluster.Host; Port = $cluster.Port; Username = 'postgres' }
    $script:work = New-TestDirectory
    $script:repo = Join-Path $work 'repo'

    function Switch-Wal([int]$Count = 1) {
        $null = $cluster.Psql('CREATE TABLE IF NOT EXISTS wal_gen(x int)')
        foreach ($i in 1..$Count) {
            $cluster.Psql('INSERT INTO wal_gen SELECT generate_series(1, 1000); SELECT pg_walfile_name(pg_current_wal_lsn())')
            $null = $cluster.Psql('SELECT pg_switch_wal()')
        }
    }
    function Wait-Archived([string]$Name) {
        $deadline = (Get-Date).AddSeconds(60)
        while ([string]::CompareOrdinal($cluster.Psql("SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver"), $Name) -lt 0) {
            if ((Get-Date) -gt $deadline) { throw "Timed out waiting for $Name to be archived: $(Get-Content $cluster.LogFile -Raw)" }
            Start-Sleep -Milliseconds 200
        }
    }
}

AfterAll {
    if ($script:cluster) { $script:cluster.Dispose() }
    Remove-Item -Recurse -Force $script:work -ErrorAction SilentlyContinue
}

Describe 'Enable-PgWalArchiving' {
    It 'changes nothing with -WhatIf' {
        $result = Enable-PgWalArchiving -Repository $repo @server -WhatIf
        $result | Should -BeNullOrEmpty
        $cluster.Psql('SHOW archive_mode') | Should -Be 'off'
        $cluster.Psql('SHOW archive_command') | Should -BeIn @('', '(disabled)')
        Test-Path $repo | Should -BeFalse
    }

    It 'sets archive_command to the module''s pgbt-wal, says a restart is needed, and PostgreSQL then archives through it' {
        $result = Enable-PgWalArchiving -Repository $repo -ArchiveTimeout 30 @server -WarningAction SilentlyContinue
        $result | Should -BeOfType ([PgBackupTools.PgWalArchivingResult])
        $result.Applied | Should -BeTrue
        $result.RestartRequired | Should -BeTrue
        $entryPoint = Join-Path (Split-Path $ModulePath) 'bin/pgbt-wal'
        $result.ArchiveCommand | Should -Be "'$entryPoint' push %p --repo '$repo'"
        $cluster.Psql('SHOW archive_timeout') | Should -Be '30s'

        [PgBackupTools.TestKit.PgTestCluster]::GiveToServerUser($work)
        $cluster.Stop(); $cluster.StartServer()
        # (archive_command reads '(disabled)' until archive_mode is on.)
        $cluster.Psql('SHOW archive_command') | Should -Be $result.ArchiveCommand
        $names = @(Switch-Wal 3)
        Wait-Archived $names[-1]
        $report = Test-PgWalArchive -Repository $repo @server
        $report.Passed | Should -BeTrue -Because ($report.Problems -join ' ')
        $report.SegmentsFound | Should -BeGreaterOrEqual 3
        $report.FailedCount | Should -Be 0
        $report.SystemIdentifier | Should -Be $cluster.Psql('SELECT system_identifier FROM pg_control_system()')

        # Run again: nothing left to change.
        (Enable-PgWalArchiving -Repository $repo -ArchiveTimeout 30 @server).Applied | Should -BeFalse
    }
}

Describe 'Send-PgWalSegment and Receive-PgWalSegment' {
    BeforeAll {
        $script:names = @(Switch-Wal 1)
        Wait-Archived $names[-1]
        $script:copy = Join-Path $work 'copy'
        New-Item -ItemType Directory $copy | Out-Null
        Copy-Item (Join-Path $cluster.DataDirectory "pg_wal/$($names[0])") $copy
    }

    It 're-pushes an archived segment from the pipeline as AlreadyArchived' {
        $result = Get-ChildItem $copy | Send-PgWalSegment -Repository $repo
        $result | Should -BeOfType ([PgBackupTools.PgWalSegment])
        $result.AlreadyArchived | Should -BeTrue
        $result.Name | Should -Be $names[0]
        $result.Bytes | Should -Be 16MB
    }

    It 'refuses different content under an archived name and keeps the archived copy' {
        $stored = Get-ChildItem (Join-Path $repo 'wal/main/00000001') -Filter "$($names[0]).*"
        $before = (Get-FileHash $stored.FullName).Hash
        $file = Join-Path $copy $names[0]
        $bytes = [IO.File]::ReadAllBytes($file); $bytes[-10] = $bytes[-10] -bxor 0xFF; [IO.File]::WriteAllBytes($file, $bytes)
        Send-PgWalSegment -Path $file -Repository $repo -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $err[0].CategoryInfo.Category | Should -Be 'ResourceExists'
        $err[0].Exception.Message | Should -Match 'different content'
        (Get-FileHash $stored.FullName).Hash | Should -Be $before
    }

    It 'fetches verified bytes, and reports a name that is not archived as not found' {
        $dest = Join-Path $work 'fetched'
        New-Item -ItemType Directory $dest | Out-Null
        $result = $names[0], '000000010000000000000FFF' | Receive-PgWalSegment -Destination $dest -Repository $repo -ErrorVariable err -ErrorAction SilentlyContinue
        @($result).Count | Should -Be 1
        (Get-FileHash (Join-Path $dest $names[0])).Hash | Should -Be (Get-FileHash (Join-Path $cluster.DataDirectory "pg_wal/$($names[0])")).Hash
        $err[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        Test-Path (Join-Path $dest '000000010000000000000FFF') | Should -BeFalse
    }

    It 'Test-PgWalArchive names a segment deleted from the middle' {
        $more = @(Switch-Wal 2)
        Wait-Archived $more[-1]
        $middle = $more[0]
        Remove-Item (Join-Path $repo "wal/main/00000001/$middle.zst")
        $report = Test-PgWalArchive -Repository $repo
        $report.Passed | Should -BeFalse
        $report.MissingRanges.First | Should -Be $middle
        ($report.Problems -join ' ') | Should -Match $middle
    }
}
