# Operations against a real cluster that archives through pgbt-wal: Get-PgBackupStatus, the recovery-objectives report,
# Export-PgBackupMetric (parsed, and checked by promtool) and Test-PgBackupConfiguration, healthy and with archiving broken.
BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-Module $ModulePath -Force
    $script:cluster = Start-TestCluster
    $script:server = @{ HostName = $cluster.Host; Port = $cluster.Port; Username = 'postgres' }
    $script:work = New-TestDirectory
    $script:repo = Join-Path $work 'repo'
    $script:db = New-AuditDatabase -Cluster $cluster -Rows 300
    $script:entryPoint = Join-Path (Split-Path $ModulePath) 'bin/pgbt-wal'
    $null = Enable-PgWalArchiving -Repository $repo -ArchiveTimeout 30 @server -WarningAction SilentlyContinue
    [PgBackupTools.TestKit.PgTestCluster]::GiveToServerUser($work)
    $cluster.Stop(); $cluster.StartServer()

    function Switch-Wal {
        $null = $cluster.Psql('CREATE TABLE IF NOT EXISTS wal_gen(x int); INSERT INTO wal_gen SELECT generate_series(1, 1000)')
        $cluster.Psql('SELECT pg_walfile_name(pg_switch_wal())')
    }
    function Wait-Until([scriptblock]$Condition, [string]$What) {
        $deadline = (Get-Date).AddSeconds(60)
        while (-not (& $Condition)) {
            if ((Get-Date) -gt $deadline) { throw "Timed out waiting for $What. Server log: $(Get-Content $cluster.LogFile -Raw)" }
            Start-Sleep -Milliseconds 200
        }
    }
    function Read-Metrics([string]$Path) { ConvertFrom-PrometheusText -Text ([IO.File]::ReadAllText($Path)) }
    $script:promtool = Get-Command promtool -ErrorAction SilentlyContinue
}

AfterAll {
    if ($script:cluster) { $script:cluster.Dispose() }
    Remove-Item -Recurse -Force $script:work -ErrorAction SilentlyContinue
}

Describe 'Test-PgBackupConfiguration on a cluster that archives into the repository' {
    It 'passes every check, the last one by really switching WAL and finding the segment in the repository' {
        $checks = Test-PgBackupConfiguration -Repository $repo @server -ErrorVariable failed
        $failed | Should -BeNullOrEmpty
        $checks | Should -BeOfType ([PgBackupTools.PgConfigurationCheck])
        $checks.Name | Should -Be @('Repository reachable', 'Repository writable', 'Server connection', 'wal_level', 'archive_mode', 'archive_command',
            'archive_timeout', 'Stanza', 'WAL switch', 'Archiver')
        # Nothing archived yet: the stanza is bound by the switch's segment, so only that is a warning the first time.
        @($checks | Where-Object Status -ne 'OK').Name | Should -Be @('Stanza') -Because ($checks | Out-String)
        ($checks | Where-Object Name -eq 'Stanza').Status | Should -Be 'Warning'
        $checks = Test-PgBackupConfiguration -Repository $repo @server -ErrorVariable failed
        $failed | Should -BeNullOrEmpty
        @($checks | Where-Object Status -ne 'OK') | Should -BeNullOrEmpty -Because ($checks | Out-String)
        ($checks | Where-Object Name -eq 'Stanza').Detail | Should -Match 'bound to this cluster'
        $switch = $checks | Where-Object Name -eq 'WAL switch'
        $switch.Detail -match 'segment ([0-9A-F]{24})' | Should -BeTrue
        Test-Path (Join-Path $repo "wal/main/$($Matches[1].Substring(0, 8))/$($Matches[1]).zst") | Should -BeTrue
        $checks.Fix | Where-Object { $_ } | Should -BeNullOrEmpty
        ($checks | Format-Table | Out-String) | Should -Match 'OK\s+WAL switch'
    }

    It 'fails the repository checks for a repository that does not exist, and says how to create it' {
        $checks = Test-PgBackupConfiguration -Repository (Join-Path $work 'nowhere') -Timeout 5s @server -ErrorVariable failed -ErrorAction SilentlyContinue
        ($checks | Where-Object Name -eq 'Repository reachable').Status | Should -Be 'Failed'
        ($checks | Where-Object Name -eq 'Repository reachable').Fix | Should -Match 'New-PgRepository'
        ($checks | Where-Object Name -eq 'archive_command').Status | Should -Be 'Failed'
        ($checks | Where-Object Name -eq 'archive_command').Detail | Should -Match 'another repository'
        $failed.Count | Should -Be 1
        $failed[0].FullyQualifiedErrorId | Should -Match '^BackupConfigurationCheckFailed'
    }
}

Describe 'Get-PgBackupStatus and Export-PgBackupMetric with working backups' {
    BeforeAll {
        $script:backup = Invoke-PgBackup -Repository $repo -Database $db @server
        $script:test = $backup | Test-PgBackup -Restore @server
        $null = Switch-Wal
        $script:prom = Join-Path $work 'pgbackup.prom'
    }

    It 'Test-PgBackup records its result beside the backup, so the status can show it' {
        $records = @(Get-ChildItem (Join-Path $repo "backups/$($backup.Stanza)/$($backup.Id)/tests") -Filter *.json)
        $records.Count | Should -Be 1
        $record = Get-Content $records[0].FullName -Raw | ConvertFrom-Json
        $record.passed | Should -BeTrue
        $record.restoreRequested | Should -BeTrue
        $record.backupId | Should -Be $backup.Id
    }

    It 'reports the last backup, the last test restore and its measured RTO, and the WAL archive, per database and for the cluster' {
        $status = @(Get-PgBackupStatus -Repository $repo @server)
        $status | Should -BeOfType ([PgBackupTools.PgBackupStatus])
        $dbStatus = $status | Where-Object Database -eq $db
        $dbStatus.LastBackups.Count | Should -Be 1
        $dbStatus.LastBackups[0].BackupId | Should -Be $backup.Id
        $dbStatus.LastBackups[0].SizeBytes | Should -Be $backup.SizeBytes
        $dbStatus.LastBackups[0].Duration | Should -Be $backup.Duration
        $dbStatus.LastBackups[0].Age | Should -BeLessThan ([timespan]'01:00:00')
        $dbStatus.LastTestRestore.Passed | Should -BeTrue
        $dbStatus.LastTestRestore.Duration | Should -Be $test.Duration
        ($dbStatus.Objectives | Where-Object Objective -eq 'RTO').Measured | Should -Be $test.Duration
        $dbStatus.Objectives.Status | Should -Be @('Met', 'Met', 'Met')
        $dbStatus.Healthy | Should -BeTrue

        $clusterStatus = $status | Where-Object { $null -eq $_.Database }
        $clusterStatus.Wal.LastArchivedSegment | Should -Match '^[0-9A-F]{24}$'
        $clusterStatus.Wal.ArchiverFailing | Should -BeFalse
        $clusterStatus.Wal.FailedCount | Should -Be 0
        $clusterStatus.Wal.SystemIdentifier | Should -Be $cluster.Psql('SELECT system_identifier FROM pg_control_system()')
        $clusterStatus.Wal.CurrentLsn | Should -Not -BeNullOrEmpty
        $clusterStatus.Wal.ArchiveLagSegments | Should -BeGreaterOrEqual 0
        ($clusterStatus.Objectives | Where-Object Objective -eq 'RPO').Status | Should -Be 'Met'
        # No physical backup and no test restore of the cluster: not proven, so not healthy.
        ($clusterStatus.Objectives | Where-Object Objective -eq 'Backup age').Status | Should -Be 'Missed'
        ($clusterStatus.Objectives | Where-Object Objective -eq 'RTO').Status | Should -Be 'Unknown'
        $clusterStatus.Healthy | Should -BeFalse
        ($status | Format-Table | Out-String) | Should -Match ([regex]::Escape($backup.Id))
        ($status | Format-List | Out-String) | Should -Match 'test restore of'
    }

    It '-Report writes the recovery-objectives table from measured data, and the verdicts follow the targets' {
        $rows = @(Get-PgBackupStatus -Repository $repo -Database $db -Report)
        $rows | Should -BeOfType ([PgBackupTools.PgRecoveryObjective])
        $rows.Objective | Should -Be @('Backup age', 'RPO', 'RTO')
        ($rows | Where-Object Objective -eq 'Backup age').Evidence | Should -Match ([regex]::Escape($backup.Id))
        ($rows | Where-Object Objective -eq 'RTO').Evidence | Should -Match "test restore of $([regex]::Escape($backup.Id)) .* passed"
        $text = $rows | Out-String -Width 250
        $text | Should -Match 'Objective\s+Target\s+Measured\s+Evidence\s+Status'
        $text | Should -Match 'RTO\s+<= 1h\s+\S+.*MET'

        $strict = @(Get-PgBackupStatus -Repository $repo -Database $db -Report -RtoTarget 1ms -MaxBackupAge '00:00:00.001')
        ($strict | Where-Object Objective -eq 'RTO').Status | Should -Be 'Missed'
        ($strict | Where-Object Objective -eq 'Backup age').Status | Should -Be 'Missed'
        ($strict | Out-String -Width 250) | Should -Match 'MISSED'
        { Get-PgBackupStatus -Repository $repo -RpoTarget 'five minutes' } | Should -Throw '*is not a duration*'
        # Unquoted, 30s and 2d are PowerShell number literals ([short], [decimal]); they still mean what they say.
        (Get-PgBackupStatus -Repository $repo -Database $db -Report -MaxBackupAge 2d | Where-Object Objective -eq 'Backup age').Target | Should -Be ([timespan]::FromDays(2))
        (Get-PgBackupStatus -Repository $repo -Database $db -Report -RpoTarget 30s | Where-Object Objective -eq 'RPO').Target | Should -Be ([timespan]::FromSeconds(30))
        (Get-PgBackupStatus -Repository $repo -Database $db -Report -RtoTarget 90 | Where-Object Objective -eq 'RTO').Target | Should -Be ([timespan]::FromSeconds(90))
    }

    It 'exports the status as Prometheus metrics that parse, with the seed''s last-success metric' {
        $file = Export-PgBackupMetric -Repository $repo @server -Path $prom -PassThru
        $file.FullName | Should -Be $prom
        $file.PSPath | Should -Not -BeNullOrEmpty -Because 'the FileSystem view needs the provider''s properties to show mode and size'
        if (-not $IsWindows) { (Get-Item $prom).UnixMode | Should -Be '-rw-r--r--' }
        Get-ChildItem $work -Filter '*.tmp' -Force | Should -BeNullOrEmpty
        $metrics = Read-Metrics $prom
        $last = Find-Metric $metrics 'postgres_backup_last_success_timestamp_seconds' @{ stanza = 'main'; database = $db; type = 'Logical' }
        $last.Count | Should -Be 1
        $last[0].Value | Should -Be ($backup.EndTime.ToUnixTimeMilliseconds() / 1000)
        $last[0].Type | Should -Be 'gauge'
        (Find-Metric $metrics 'postgres_backup_last_size_bytes' @{ database = $db })[0].Value | Should -Be $backup.SizeBytes
        (Find-Metric $metrics 'postgres_backup_test_restore_last_success' @{ database = $db })[0].Value | Should -Be 1
        (Find-Metric $metrics 'postgres_backup_test_restore_duration_seconds' @{ database = $db })[0].Value | Should -Be $test.Duration.TotalSeconds
        (Find-Metric $metrics 'postgres_backup_wal_archive_failing' @{ stanza = 'main' })[0].Value | Should -Be 0
        (Find-Metric $metrics 'postgres_backup_wal_archive_failures_total' @{ stanza = 'main' })[0].Type | Should -Be 'counter'
        (Find-Metric $metrics 'postgres_backup_wal_last_archived_age_seconds' @{ stanza = 'main' })[0].Value | Should -BeLessThan 3600
        (Find-Metric $metrics 'postgres_backup_objective_met' @{ database = $db; objective = 'rto' })[0].Value | Should -Be 1
        (Find-Metric $metrics 'postgres_backup_objective_met' @{ database = ''; objective = 'rto' })[0].Value | Should -Be 0
        if ($promtool) {
            $lint = Get-Content $prom -Raw | & $promtool check metrics 2>&1
            $LASTEXITCODE | Should -Be 0 -Because ($lint -join "`n")
        }
    }

    It 'takes status objects from the pipeline, and replaces the file whole' {
        $before = [IO.File]::ReadAllText($prom)
        Get-PgBackupStatus -Repository $repo -Database $db -RtoTarget 1ms | Export-PgBackupMetric -Path $prom
        $after = [IO.File]::ReadAllText($prom)
        $after | Should -Not -Be $before
        $metrics = ConvertFrom-PrometheusText -Text $after
        (Find-Metric $metrics 'postgres_backup_objective_met' @{ database = $db; objective = 'rto' })[0].Value | Should -Be 0
        @($metrics | Where-Object { $_.Labels['database'] -eq '' -and $_.Labels.Contains('database') }) | Should -BeNullOrEmpty
    }

    It 'writes no file and reports an error when the repository cannot be read' {
        $path = Join-Path $work 'none.prom'
        Export-PgBackupMetric -Repository (Join-Path $work 'nowhere') -Path $path -ErrorVariable failed -ErrorAction SilentlyContinue
        $failed.Count | Should -Be 1
        Test-Path $path | Should -BeFalse
        Export-PgBackupMetric -Repository $repo -Path $path -WhatIf
        Test-Path $path | Should -BeFalse
    }

    It 'the shipped alert rules are valid and alert only on metrics the exporter writes' {
        $rules = Join-Path $RepoRoot 'examples/prometheus-alerts.yml'
        if ($promtool) {
            $out = & $promtool check rules $rules 2>&1
            $LASTEXITCODE | Should -Be 0 -Because ($out -join "`n")
            # And they fire when they should: PostgreSQLBackupMissing after 25 h, not before; archiving and test restores.
            Push-Location (Split-Path $rules)
            try { $out = & $promtool test rules 'prometheus-alerts.test.yml' 2>&1 } finally { Pop-Location }
            $LASTEXITCODE | Should -Be 0 -Because ($out -join "`n")
        }

        $text = Get-Content $rules -Raw
        $alerts = [regex]::Matches($text, '(?m)^\s*- alert: (\S+)\s*\n\s*expr: (.+)$')
        $alerts.Count | Should -BeGreaterOrEqual 5
        $names = $alerts | ForEach-Object { $_.Groups[1].Value }
        $names | Should -Contain 'PostgreSQLBackupMissing'
        $names | Should -Contain 'PostgreSQLWalArchivingFailing'
        $names | Should -Contain 'PostgreSQLTestRestoreFailed'
        $missing = $alerts | Where-Object { $_.Groups[1].Value -eq 'PostgreSQLBackupMissing' }
        $missing.Groups[2].Value | Should -Match 'time\(\) - .*postgres_backup_last_success_timestamp_seconds.*> 25 \* 3600'
        # Every metric an alert uses is one the exporter really writes (from a full export: cluster with a server).
        $written = (Read-Metrics $prom).Name + (ConvertFrom-PrometheusText -Text ([IO.File]::ReadAllText((Export-PgBackupMetric -Repository $repo @server -Path (Join-Path $work 'all.prom') -PassThru).FullName))).Name | Sort-Object -Unique
        foreach ($alert in $alerts) {
            foreach ($used in [regex]::Matches($alert.Groups[2].Value, 'postgres_backup_[a-z_]+')) {
                $written | Should -Contain $used.Value -Because "alert $($alert.Groups[1].Value) uses it"
            }
        }
        if (-not $promtool) {
            Set-ItResult -Inconclusive -Because 'promtool is not installed (.ci/setup installs it from the prometheus package); only the structural checks ran'
        }
    }
}

Describe 'With WAL archiving broken' {
    BeforeAll {
        $null = $cluster.Psql("ALTER SYSTEM SET archive_command = 'false'; ")
        $null = $cluster.Psql('SELECT pg_reload_conf()')
        # The archiver takes the new command when it gets to the reload: until then a switched segment is still archived
        # by the old, working one. Switch again until an attempt fails, instead of sleeping and hoping it reloaded in time.
        Wait-Until {
            $segment = Switch-Wal
            Wait-Until { $cluster.Psql("SELECT failed_count > 0 OR coalesce(last_archived_wal >= '$segment', false) FROM pg_stat_archiver") -eq 't' } "an archive attempt of $segment"
            [int]$cluster.Psql('SELECT failed_count FROM pg_stat_archiver') -gt 0
        } 'archive_command to fail'
    }

    It 'Get-PgBackupStatus shows it in one call: archiver failing, RPO missed, and what to do' {
        $clusterStatus = Get-PgBackupStatus -Repository $repo @server | Where-Object { $null -eq $_.Database }
        $clusterStatus.Wal.ArchiverFailing | Should -BeTrue
        $clusterStatus.Wal.FailedCount | Should -BeGreaterThan 0
        $clusterStatus.Wal.LastFailedWal | Should -Match '^[0-9A-F]{24}$'
        $clusterStatus.Wal.ArchiveLagSegments | Should -BeGreaterThan 0
        $rpo = $clusterStatus.Objectives | Where-Object Objective -eq 'RPO'
        $rpo.Status | Should -Be 'Missed'
        $rpo.Evidence | Should -Match 'archive_command FAILING'
        ($clusterStatus.Wal.Problems -join ' ') | Should -Match 'Test-PgBackupConfiguration'
        ($clusterStatus | Format-Table | Out-String) | Should -Match 'FAILING'
    }

    It 'the metrics show it' {
        $path = Join-Path $work 'broken.prom'
        Export-PgBackupMetric -Repository $repo @server -Path $path
        $metrics = Read-Metrics $path
        (Find-Metric $metrics 'postgres_backup_wal_archive_failing' @{ stanza = 'main' })[0].Value | Should -Be 1
        (Find-Metric $metrics 'postgres_backup_wal_archive_failures_total' @{ stanza = 'main' })[0].Value | Should -BeGreaterThan 0
        (Find-Metric $metrics 'postgres_backup_objective_met' @{ database = ''; objective = 'rpo' })[0].Value | Should -Be 0
    }

    It 'Test-PgBackupConfiguration names the failing checks and the fix, then reports an error' {
        $checks = Test-PgBackupConfiguration -Repository $repo -Timeout 30s @server -ErrorVariable failed -ErrorAction SilentlyContinue
        $command = $checks | Where-Object Name -eq 'archive_command'
        $command.Status | Should -Be 'Failed'
        $command.Detail | Should -Match "archive_command = false"
        $command.Fix | Should -Match ([regex]::Escape("Enable-PgWalArchiving -Repository '$repo'"))
        $command.Fix | Should -Match ([regex]::Escape("'$entryPoint' push %p --repo '$repo'"))
        ($checks | Where-Object Name -eq 'Archiver').Status | Should -Be 'Failed'
        $switch = $checks | Where-Object Name -eq 'WAL switch'
        $switch.Status | Should -Be 'Failed'
        $switch.Detail | Should -Match 'archive_command failed after the switch'
        $failed.Count | Should -Be 1
        $failed[0].Exception.Message | Should -Match '\[archive_command\] .*Enable-PgWalArchiving'
        { Test-PgBackupConfiguration -Repository $repo -Timeout 2s @server -ErrorAction Stop } | Should -Throw '*FAILED*'
    }

    It 'archive_command into a repository that does not exist: a new repository''s status shows the failing archiver, and the check names the fix' {
        $bad = Join-Path $work 'no-such-repository'
        $null = $cluster.Psql("ALTER SYSTEM SET archive_command = '''$entryPoint'' push %p --repo ''$bad'''")
        $null = $cluster.Psql('SELECT pg_reload_conf()')
        $before = [int]$cluster.Psql('SELECT failed_count FROM pg_stat_archiver')
        $null = Switch-Wal
        Wait-Until { [int]$cluster.Psql('SELECT failed_count FROM pg_stat_archiver') -gt $before } 'pgbt-wal push to fail'
        # The repository it should archive into holds a logical backup and no WAL at all.
        $fresh = Join-Path $work 'fresh'
        $null = Invoke-PgBackup -Repository $fresh -Database $db @server
        $status = @(Get-PgBackupStatus -Repository $fresh @server)
        $clusterStatus = $status | Where-Object { $null -eq $_.Database }
        $clusterStatus.Stanza | Should -Be 'main'
        $clusterStatus.Wal.ArchiverFailing | Should -BeTrue
        $clusterStatus.Wal.LastArchivedSegment | Should -BeNullOrEmpty
        ($clusterStatus.Objectives | Where-Object Objective -eq 'RPO').Status | Should -Be 'Missed'
        ($clusterStatus.Objectives | Where-Object Objective -eq 'RPO').Evidence | Should -Match 'no WAL archived; archive_command FAILING'
        $checks = Test-PgBackupConfiguration -Repository $fresh -Timeout 20s @server -ErrorAction SilentlyContinue
        $command = $checks | Where-Object Name -eq 'archive_command'
        $command.Status | Should -Be 'Failed'
        $command.Detail | Should -Match 'another repository'
        $command.Fix | Should -Match ([regex]::Escape("Enable-PgWalArchiving -Repository '$fresh'"))
    }

    It 'Enable-PgWalArchiving is the fix: afterwards every check passes again' {
        $null = Enable-PgWalArchiving -Repository $repo -ArchiveTimeout 30 @server -WarningAction SilentlyContinue
        $checks = Test-PgBackupConfiguration -Repository $repo @server -ErrorVariable failed
        $failed | Should -BeNullOrEmpty -Because ($checks | Out-String)
        (Get-PgBackupStatus -Repository $repo @server | Where-Object { $null -eq $_.Database }).Wal.ArchiverFailing | Should -BeFalse
    }
}

Describe 'A failed test restore' {
    It 'makes the RTO objective Missed with the failure as evidence, and the metric 0' {
        $bad = Invoke-PgBackup -Repository $repo -Database $db @server
        $file = Join-Path $repo "backups/$($bad.Stanza)/$($bad.Id)/$($bad.Files[0].Name)"
        $bytes = [IO.File]::ReadAllBytes($file); $bytes[$bytes.Length - 10] = $bytes[$bytes.Length - 10] -bxor 0xFF; [IO.File]::WriteAllBytes($file, $bytes)
        $result = $bad | Test-PgBackup -Restore @server -ErrorAction SilentlyContinue
        $result.Passed | Should -BeFalse
        $rto = Get-PgBackupStatus -Repository $repo -Database $db -Report | Where-Object Objective -eq 'RTO'
        $rto.Status | Should -Be 'Missed'
        $rto.Evidence | Should -Match "test restore of $([regex]::Escape($bad.Id)) .*FAILED: Checksum mismatch"
        $path = Join-Path $work 'failed-test.prom'
        Export-PgBackupMetric -Repository $repo -Database $db -Path $path
        (Find-Metric (Read-Metrics $path) 'postgres_backup_test_restore_last_success' @{ database = $db })[0].Value | Should -Be 0
    }
}
