# The retention drill: a real cluster archiving through pgbt-wal, physical backups B1, B2, B3 with committed rows
# between them, a policy run that removes B1 and prunes the WAL before B2, and point-in-time restores from B2 that
# still hold exactly the rows committed up to their targets. Then Invoke-PgBackup -RetentionDays does the same after
# a new backup.
BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-Module $ModulePath -Force
    $script:cluster = Start-TestCluster
    $script:server = @{ HostName = $cluster.Host; Port = $cluster.Port; Username = 'postgres' }
    $script:work = New-TestDirectory
    $script:repo = Join-Path $work 'repo'
    $script:psql = Join-Path $cluster.BinDirectory 'psql'
    $script:pgCtl = Join-Path $cluster.BinDirectory 'pg_ctl'
    $script:restoredDirs = [System.Collections.Generic.List[string]]::new()

    $null = Enable-PgWalArchiving -Repository $repo @server -WarningAction SilentlyContinue
    # Commit times exactly as the commit records carry them, which is what recovery_target_time compares.
    $null = $cluster.Psql('ALTER SYSTEM SET track_commit_timestamp = on')
    [PgBackupTools.TestKit.PgTestCluster]::GiveToServerUser($work)
    $cluster.Stop(); $cluster.StartServer()
    $cluster.Psql('SHOW wal_segment_size') | Should -Be '16MB'
    $null = $cluster.Psql('CREATE TABLE drill(id int PRIMARY KEY)')
    $script:lastRow = 0

    function script:Add-Row([int]$Count) {
        for ($i = 0; $i -lt $Count; $i++) {
            $script:lastRow++
            $null = $cluster.Psql("INSERT INTO drill VALUES ($script:lastRow)")
        }
        # A new segment between steps, so each backup starts in a later segment than the WAL before it.
        $null = $cluster.Psql('SELECT pg_switch_wal()')
    }

    function script:Wait-Archived { $null = Switch-WalAndWait -Cluster $cluster }

    # Archived WAL of stanza 'main' as file names without the compression extension.
    function script:Get-ArchivedWal {
        Get-ChildItem (Join-Path $repo 'wal/main') -Recurse -File | Where-Object Name -NotLike '.*' | Where-Object Name -NE 'archive.json' |
            ForEach-Object { $_.Name -replace '\.(zst|gz|lz4)$', '' } | Sort-Object
    }

    # The absolute segment number of a segment, .partial or .backup name (16 MB segments: 256 per log id).
    function script:Get-SegmentNumber([string]$Name) {
        [Convert]::ToUInt64($Name.Substring(8, 8), 16) * 256 + [Convert]::ToUInt64($Name.Substring(16, 8), 16)
    }

    # Restores a physical backup without starting it, starts it with archive_mode off (a drill must not archive into the
    # source's stanza), waits for the promotion and returns the ids in its drill table.
    function script:Restore-Drill($Backup, [string]$Name, [hashtable]$Target = @{}) {
        $dir = Join-Path $work $Name
        $port = [PgBackupTools.TestKit.PgTestCluster]::FindFreePort()
        $null = $Backup | Restore-PgDatabase -DataDirectory $dir -Port $port -Confirm:$false @Target -ErrorAction Stop
        Add-Content (Join-Path $dir 'postgresql.auto.conf') "archive_mode = off"
        $script:restoredDirs.Add($dir)
        [PgBackupTools.TestKit.PgTestCluster]::RunAsServerUser($pgCtl, '-D', $dir, '-l', (Join-Path $dir 'drill.log'), '-w', '-t', '120', 'start')
        $deadline = (Get-Date).AddSeconds(120)
        while ((& $psql -X -A -t -h 127.0.0.1 -p $port -U postgres -d postgres -c 'SELECT pg_is_in_recovery()' 2>$null) -ne 'f') {
            if ((Get-Date) -gt $deadline) { throw "the restore of $($Backup.Id) did not finish recovery: $(Get-Content (Join-Path $dir 'drill.log') -Raw)" }
            Start-Sleep -Milliseconds 200
        }
        $rows = & $psql -X -A -t -h 127.0.0.1 -p $port -U postgres -d postgres -c "SELECT coalesce(string_agg(id::text, ',' ORDER BY id), '') FROM drill"
        [PgBackupTools.TestKit.PgTestCluster]::RunAsServerUser($pgCtl, '-D', $dir, '-m', 'immediate', '-w', 'stop')
        $rows
    }
}

AfterAll {
    foreach ($dir in $script:restoredDirs) {
        if (Test-Path (Join-Path $dir 'postmaster.pid')) { [PgBackupTools.TestKit.PgTestCluster]::RunAsServerUser($pgCtl, '-D', $dir, '-m', 'immediate', '-w', 'stop') }
    }
    if ($script:cluster) { $script:cluster.Dispose() }
    Remove-Item -Recurse -Force $script:work -ErrorAction SilentlyContinue
}

Describe 'Retention prunes the WAL archive' {
    It 'KeepLast 2 removes B1 and the WAL before B2 only; -WhatIf names the same set; PITR from B2 holds exactly the committed rows' {
        $b1 = Invoke-PgBackup -Repository $repo -Type Physical @server
        Add-Row 5
        1..3 | ForEach-Object { Add-Row 1 } # more segments before B2, so that an old gap can split them
        $b2 = Invoke-PgBackup -Repository $repo -Type Physical @server
        Add-Row 5
        $rowsAtTarget = $lastRow
        $targetText = $cluster.Psql("SET TimeZone = 'UTC'; SELECT pg_xact_commit_timestamp(xmin) FROM drill WHERE id = $lastRow")
        Add-Row 5
        $b3 = Invoke-PgBackup -Repository $repo -Type Physical @server
        Add-Row 5
        Wait-Archived
        $byTime = $cluster.Psql("SELECT string_agg(id::text, ',' ORDER BY id) FROM drill WHERE pg_xact_commit_timestamp(xmin) <= '$targetText'")
        $byTime | Should -Be (1..$rowsAtTarget -join ',')

        $before = Get-ArchivedWal
        $cut = Get-SegmentNumber $b2.StartWalSegment
        (Get-SegmentNumber $b1.StartWalSegment) | Should -BeLessThan $cut
        $expectedGone = @($before | Where-Object { $_ -notlike '*.history' -and (Get-SegmentNumber $_) -lt $cut })
        $expectedGone.Count | Should -BeGreaterThan 1
        $expectedGone | Should -Contain $b1.StartWalSegment
        # An old gap (archiving was off for a while, say) splits the WAL before B2 into two ranges on timeline 1.
        $numbers = @($expectedGone | ForEach-Object { Get-SegmentNumber $_ })
        $hole = $expectedGone | Where-Object {
            $n = Get-SegmentNumber $_
            $_.Length -eq 24 -and $n -gt ($numbers | Measure-Object -Minimum).Minimum -and $n -lt ($numbers | Measure-Object -Maximum).Maximum -and
                @($numbers | Where-Object { $_ -eq $n }).Count -eq 1
        } | Select-Object -First 1
        $hole | Should -Not -BeNullOrEmpty
        Get-ChildItem (Join-Path $repo 'wal/main') -Recurse -File -Filter "$hole*" | Remove-Item
        $before = Get-ArchivedWal
        $expectedGone = @($expectedGone | Where-Object { $_ -ne $hole })

        # -WhatIf, as a user sees it (ShouldProcess writes to the host): B1 and the WAL ranges, nothing else, nothing deleted.
        $whatIf = & (Join-Path $PSHOME 'pwsh') -NoProfile -NonInteractive -Command "Import-Module '$ModulePath'; Remove-PgBackup -Repository '$repo' -KeepLast 2 -WhatIf" | Out-String
        $whatIf | Should -Match ([regex]::Escape($b1.Id))
        $whatIf | Should -Not -Match ([regex]::Escape($b2.Id))
        $whatIf | Should -Not -Match ([regex]::Escape($b3.Id))
        $whatIfRanges = @([regex]::Matches($whatIf, 'What if: (Remove WAL \S+\.\.\S+ \(\d+ files\) from stanza main)') | ForEach-Object { $_.Groups[1].Value })
        $whatIfRanges.Count | Should -Be 2 -Because "the gap at $hole splits the old WAL"
        Get-ArchivedWal | Should -Be $before
        (Get-PgBackup -Repository $repo -Type Physical).Id | Should -Be @($b1.Id, $b2.Id, $b3.Id)

        $out = Remove-PgBackup -Repository $repo -KeepLast 2 -Force -PassThru -Verbose 4>&1
        $verbose = ($out | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }) -join "`n"
        $removedBackups = @($out | Where-Object { $_ -is [PgBackupTools.PgBackup] })
        $removedWal = @($out | Where-Object { $_ -is [PgBackupTools.PgWalRemoval] })
        $removedBackups.Id | Should -Be $b1.Id
        $verbose | Should -Match "WAL is kept from $($b2.StartWalSegment), the start of backup $($b2.Id)"
        ($removedWal | ForEach-Object { "Remove WAL $($_.First)..$($_.Last) ($($_.Files) files) from stanza main" }) | Should -Be $whatIfRanges
        ($removedWal | Measure-Object Files -Sum).Sum | Should -Be $expectedGone.Count
        $removedWal.KeptFor | Select-Object -Unique | Should -Be $b2.Id

        $after = Get-ArchivedWal
        foreach ($name in $expectedGone) { $after | Should -Not -Contain $name }
        foreach ($name in $before | Where-Object { $expectedGone -notcontains $_ }) { $after | Should -Contain $name -Because 'WAL from B2 on and every history file stay' }
        (Get-PgBackup -Repository $repo -Type Physical).Id | Should -Be @($b2.Id, $b3.Id)
        Test-Path (Join-Path $repo "backups/main/$($b1.Id)") | Should -BeFalse
        (Test-PgWalArchive -Repository $repo -StartSegment $b2.StartWalSegment).Passed | Should -BeTrue

        # A second run finds nothing more to do.
        @(Remove-PgBackup -Repository $repo -KeepLast 2 -Force -PassThru).Count | Should -Be 0

        Restore-Drill $b2 'pitr-time' @{ TargetTime = [DateTimeOffset]::Parse($targetText, [cultureinfo]::InvariantCulture) } | Should -Be $byTime
        Restore-Drill $b2 'pitr-latest' | Should -Be (1..$lastRow -join ',')
    }

    It 'Invoke-PgBackup -RetentionDays 0 keeps the new backup only and prunes the WAL before it; a restore of it reaches the latest row' {
        $older = Get-PgBackup -Repository $repo -Type Physical
        $before = Get-ArchivedWal
        $b4 = Invoke-PgBackup -Repository $repo -Type Physical -RetentionDays 0 @server
        (Get-PgBackup -Repository $repo -Type Physical).Id | Should -Be $b4.Id
        foreach ($backup in $older) { Test-Path (Join-Path $repo "backups/main/$($backup.Id)") | Should -BeFalse }
        $cut = Get-SegmentNumber $b4.StartWalSegment
        $after = Get-ArchivedWal
        @($after | Where-Object { $_ -notlike '*.history' -and (Get-SegmentNumber $_) -lt $cut }) | Should -BeNullOrEmpty
        foreach ($name in $before | Where-Object { $_ -like '*.history' -or (Get-SegmentNumber $_) -ge $cut }) { $after | Should -Contain $name }
        $after | Should -Contain $b4.StartWalSegment

        Add-Row 5
        Wait-Archived
        Restore-Drill $b4 'pitr-b4-latest' | Should -Be (1..$lastRow -join ',')
    }

    It 'prunes no WAL when the policy is limited to databases, or the stanza has no physical backup, and says so' {
        $before = Get-ArchivedWal
        $null = Invoke-PgBackup -Repository $repo -Database postgres -Stanza logical-only @server
        $verbose = (Remove-PgBackup -Repository $repo -KeepLast 1 -Database postgres -Force -Verbose 4>&1) -join "`n"
        $verbose | Should -Match '-Database limits the policy to logical backups: no WAL is pruned'
        $verbose = (Remove-PgBackup -Repository $repo -KeepLast 1 -Stanza logical-only -Force -Verbose 4>&1) -join "`n"
        $verbose | Should -Match "Stanza 'logical-only' has no WAL archive"
        Get-ArchivedWal | Should -Be $before
    }

    It 'warns, and prunes no WAL, when a manifest of the stanza is damaged' {
        $before = Get-ArchivedWal
        $damaged = Join-Path $repo 'backups/main/20000101T000000Z-d4m4g3'
        $null = New-Item -ItemType Directory -Path $damaged
        Set-Content -Path (Join-Path $damaged 'manifest.json') -Value '{ not json'
        try {
            $warnings = Remove-PgBackup -Repository $repo -Stanza main -KeepLast 5 -Force 3>&1 | Where-Object { $_ -is [System.Management.Automation.WarningRecord] }
            ($warnings.Message -join "`n") | Should -Match "manifest .*20000101T000000Z-d4m4g3.* is not readable.*no WAL of stanza 'main' is pruned"
            Get-ArchivedWal | Should -Be $before
        }
        finally {
            Remove-Item -Recurse -Force $damaged
        }
    }
}
