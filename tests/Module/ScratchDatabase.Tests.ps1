BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-Module $ModulePath -Force
    $script:cluster = Start-TestCluster
    $script:server = @{ HostName = $cluster.Host; Port = $cluster.Port; Username = 'postgres' }
    $script:repo = New-TestDirectory
    $script:small = Invoke-PgBackup -Repository $repo -Database (New-AuditDatabase -Cluster $cluster -Rows 100) @server

    # A scratch database as a restore makes it, with the marker a process with that pid and start time would write.
    function New-ScratchDatabase {
        param([string]$Prefix = 'pgbt_test_', [string]$HostName = [Environment]::MachineName, [int]$ProcessId, [datetime]$ProcessStart = [datetime]::UtcNow,
            [datetime]$Created = [datetime]::UtcNow, [string]$Phase = 'restoring', [string]$Target, [string]$Replaced, [switch]$Unmarked)
        $name = $Prefix + [guid]::NewGuid().ToString('N').Substring(0, 12)
        $cluster.CreateDatabase($name)
        if (-not $Unmarked) {
            $marker = [ordered]@{ tool = 'PgBackupTools'; purpose = 'restore'; host = $HostName; pid = $ProcessId
                processStart = $ProcessStart.ToUniversalTime().ToString('o'); created = $Created.ToUniversalTime().ToString('o'); phase = $Phase }
            if ($Target) { $marker.target = $Target }
            if ($Replaced) { $marker.replaced = $Replaced }
            $null = $cluster.Psql("COMMENT ON DATABASE $name IS '$(($marker | ConvertTo-Json -Compress) -replace "'", "''")'")
        }
        $name
    }

    # The pid of a process that has ended: a marker naming it names a killed restore.
    function Get-EndedProcessId {
        $p = Start-Process -FilePath 'true' -PassThru
        $p.WaitForExit()
        $p.Id
    }

    function Test-DatabaseExists([string]$Name) { $cluster.Psql("SELECT count(*) FROM pg_database WHERE datname = '$Name'") -eq '1' }
}

AfterAll {
    if ($script:cluster) { $script:cluster.Dispose() }
    if ($script:repo) { Remove-Item -Recurse -Force $repo -ErrorAction SilentlyContinue }
}

Describe 'A logical restore killed with SIGKILL leaves a marked staging database' {
    BeforeAll {
        $script:big = New-AuditDatabase -Cluster $cluster -Rows 400000
        $script:bigBackup = Invoke-PgBackup -Repository $repo -Database $big @server

        # Runs $Command on the big backup in another pwsh and SIGKILLs it (and pg_restore with it) once its staging
        # database, marked with its pid, has grown well past an empty one (template0 is about 8 MB). Returns the pid.
        function Stop-HalfwayRestore([string]$Command) {
            $script = "Import-Module '$ModulePath'; Get-PgBackup -Repository '$repo' -Id '$($bigBackup.Id)' | $Command -HostName $($cluster.Host) -Port $($cluster.Port) -Username postgres"
            $psi = [Diagnostics.ProcessStartInfo]::new((Join-Path $PSHOME 'pwsh'))
            foreach ($a in '-NoProfile', '-NonInteractive', '-Command', $script) { $psi.ArgumentList.Add($a) }
            $proc = [Diagnostics.Process]::Start($psi)
            $staged = "SELECT coalesce(max(pg_database_size(datname)), 0) FROM pg_database WHERE datname LIKE 'pgbt_restore_%' AND shobj_description(oid, 'pg_database') LIKE '%""pid"":$($proc.Id),%'"
            $deadline = [DateTime]::UtcNow.AddSeconds(120)
            while ([DateTime]::UtcNow -lt $deadline -and -not $proc.HasExited -and [long]$cluster.Psql($staged) -lt 20MB) { Start-Sleep -Milliseconds 50 }
            [long]$cluster.Psql($staged) | Should -BeGreaterThan 20MB -Because 'the restore must be halfway, its staging database marked with its pid, when killed'
            $proc.Kill($true)
            $proc.WaitForExit()
            # The server ends pg_restore's backend only once it notices its client gone; until then the database has a
            # session and is rightly kept. The next run comes later than that.
            $sessions = "SELECT count(*) FROM pg_stat_activity a JOIN pg_database d ON d.oid = a.datid WHERE shobj_description(d.oid, 'pg_database') LIKE '%""pid"":$($proc.Id),%'"
            $deadline = [DateTime]::UtcNow.AddSeconds(60)
            while ([DateTime]::UtcNow -lt $deadline -and $cluster.Psql($sessions) -ne '0') { Start-Sleep -Milliseconds 100 }
            $proc.Id
        }
    }

    It 'is dropped by the next Restore-PgDatabase against that server, which warns naming it' {
        $killed = Stop-HalfwayRestore "Restore-PgDatabase -TargetDatabase 'killed_$big' -Confirm:`$false"
        $leftover = $cluster.Psql("SELECT datname FROM pg_database WHERE shobj_description(oid, 'pg_database') LIKE '%""pid"":$killed,%'")
        $leftover | Should -Match '^pgbt_restore_[0-9a-f]{12}$'

        $result = $small | Restore-PgDatabase -TargetDatabase "after_$big" @server -Confirm:$false -WarningVariable warnings -WarningAction SilentlyContinue
        $result.TargetDatabase | Should -Be "after_$big"
        Test-DatabaseExists $leftover | Should -BeFalse
        ($warnings -join "`n") | Should -Match "Dropped scratch database $leftover .*Restore-PgDatabase.*process $killed .*no longer running"
        Test-DatabaseExists "killed_$big" | Should -BeFalse -Because 'the killed restore never put its database in place'
        $cluster.Psql("SELECT shobj_description(oid, 'pg_database') IS NULL FROM pg_database WHERE datname = 'after_$big'") | Should -Be 't' -Because 'a restored database does not keep the scratch marker'
    }

    It 'is dropped, for a killed Test-PgBackup -Restore, by the next Test-PgBackup -Restore' {
        $killed = Stop-HalfwayRestore 'Test-PgBackup -Restore'
        $leftover = $cluster.Psql("SELECT datname FROM pg_database WHERE shobj_description(oid, 'pg_database') LIKE '%""pid"":$killed,%'")
        $leftover | Should -Match '^pgbt_restore_[0-9a-f]{12}$'
        $cluster.Psql("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = '$leftover'") | Should -Match '"purpose":"test"'

        $test = $small | Test-PgBackup -Restore @server -WarningVariable warnings -WarningAction SilentlyContinue
        $test.Passed | Should -BeTrue
        Test-DatabaseExists $leftover | Should -BeFalse
        ($warnings -join "`n") | Should -Match "Dropped scratch database $leftover .*interrupted Test-PgBackup -Restore.*process $killed "
    }
}

Describe 'Restore-PgDatabase and Test-PgBackup -Restore clean up before they start' {
    It 'Test-PgBackup -Restore drops an abandoned marked database and keeps one whose process still runs' {
        $abandoned = New-ScratchDatabase -ProcessId (Get-EndedProcessId)
        $self = Get-Process -Id $PID
        $alive = New-ScratchDatabase -ProcessId $PID -ProcessStart $self.StartTime.ToUniversalTime()
        $test = $small | Test-PgBackup -Restore @server -WarningVariable warnings -WarningAction SilentlyContinue
        $test.Passed | Should -BeTrue
        Test-DatabaseExists $abandoned | Should -BeFalse
        ($warnings -join "`n") | Should -Match "Dropped scratch database $abandoned"
        Test-DatabaseExists $alive | Should -BeTrue
        ($warnings -join "`n") | Should -Not -Match $alive
        Test-DatabaseExists $test.ScratchDatabase | Should -BeFalse
        $null = $cluster.Psql("DROP DATABASE $alive")
    }

    It 'treats a pid that now belongs to another process (another start time) as ended' {
        $reused = New-ScratchDatabase -ProcessId $PID -ProcessStart ([datetime]::UtcNow.AddDays(-3))
        $null = $small | Restore-PgDatabase -TargetDatabase ('reused_' + [guid]::NewGuid().ToString('N').Substring(0, 8)) @server -Confirm:$false -WarningVariable warnings -WarningAction SilentlyContinue
        Test-DatabaseExists $reused | Should -BeFalse
        ($warnings -join "`n") | Should -Match "Dropped scratch database $reused .*another process"
    }

    It 'keeps an unmarked pgbt_test_ database, and one with a session connected' {
        $unmarked = New-ScratchDatabase -Unmarked
        $connected = New-ScratchDatabase -ProcessId (Get-EndedProcessId)
        $psi = [Diagnostics.ProcessStartInfo]::new((Join-Path $cluster.BinDirectory 'psql'))
        foreach ($a in '-X', '-h', $cluster.Host, '-p', "$($cluster.Port)", '-U', 'postgres', '-d', $connected, '-c', 'SELECT pg_sleep(300)') { $psi.ArgumentList.Add($a) }
        $psi.RedirectStandardOutput = $true
        $session = [Diagnostics.Process]::Start($psi)
        try {
            $deadline = [DateTime]::UtcNow.AddSeconds(30)
            while ([DateTime]::UtcNow -lt $deadline -and $cluster.Psql("SELECT count(*) FROM pg_stat_activity WHERE datname = '$connected'") -eq '0') { Start-Sleep -Milliseconds 100 }
            $null = $small | Restore-PgDatabase -TargetDatabase ('kept_' + [guid]::NewGuid().ToString('N').Substring(0, 8)) @server -Confirm:$false -WarningVariable warnings -WarningAction SilentlyContinue
            Test-DatabaseExists $unmarked | Should -BeTrue
            Test-DatabaseExists $connected | Should -BeTrue
            ($warnings -join "`n") | Should -Not -Match $unmarked
            ($warnings -join "`n") | Should -Match "Scratch database $connected .*is kept: .*1 session\(s\) are connected"
            $found = Remove-PgScratchDatabase -Name $unmarked, $connected -Force @server
            ($found | Where-Object Name -eq $unmarked).State | Should -Be 'Unmarked'
            ($found | Where-Object Name -eq $connected).State | Should -Be 'Connected'
            ($found | Where-Object Name -eq $connected).Connections | Should -Be 1
            $found.Dropped | Should -Not -Contain $true
        }
        finally {
            # The backend sleeps on after its client dies (it notices only when it next talks to it): end it too.
            $session.Kill(); $session.WaitForExit()
            $null = $cluster.Psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '$connected'")
        }
        # Once the session is gone, the abandoned one goes too; the unmarked one never.
        $deadline = [DateTime]::UtcNow.AddSeconds(30)
        while ([DateTime]::UtcNow -lt $deadline -and $cluster.Psql("SELECT count(*) FROM pg_stat_activity WHERE datname = '$connected'") -ne '0') { Start-Sleep -Milliseconds 100 }
        $after = Remove-PgScratchDatabase -Name $unmarked, $connected -Force @server
        ($after | Where-Object Name -eq $connected).Dropped | Should -BeTrue
        Test-DatabaseExists $connected | Should -BeFalse
        Test-DatabaseExists $unmarked | Should -BeTrue
        $null = $cluster.Psql("DROP DATABASE $unmarked")
    }

    It 'drops another host''s database only once it is older than a day' {
        $old = New-ScratchDatabase -HostName 'evicted-pod-7f9c' -ProcessId 1 -Created ([datetime]::UtcNow.AddHours(-30))
        $recent = New-ScratchDatabase -HostName 'busy-pod-2b1d' -ProcessId 1 -Created ([datetime]::UtcNow.AddHours(-2))
        $found = Remove-PgScratchDatabase -Name $old, $recent -Force @server
        ($found | Where-Object Name -eq $old).Dropped | Should -BeTrue
        ($found | Where-Object Name -eq $recent).State | Should -Be 'Recent'
        Test-DatabaseExists $old | Should -BeFalse
        Test-DatabaseExists $recent | Should -BeTrue
        $null = $cluster.Psql("DROP DATABASE $recent")
    }

    It 'refuses a -TargetDatabase named like a scratch database' {
        { $small | Restore-PgDatabase -TargetDatabase 'pgbt_restore_0123456789ab' @server -Confirm:$false -ErrorAction Stop } | Should -Throw '*named like a scratch database*'
        Test-DatabaseExists 'pgbt_restore_0123456789ab' | Should -BeFalse
    }
}

Describe 'A -Force restore killed between its two renames' {
    It 'is reported with the SQL to finish or undo it, never dropped' {
        $target = 'app_' + [guid]::NewGuid().ToString('N').Substring(0, 8)
        $replaced = 'pgbt_replaced_' + [guid]::NewGuid().ToString('N').Substring(0, 12)
        $cluster.CreateDatabase($replaced) # the old database, renamed away; the target name is free
        $staging = New-ScratchDatabase -Prefix 'pgbt_restore_' -ProcessId (Get-EndedProcessId) -Phase placing -Target $target -Replaced $replaced
        $null = $small | Restore-PgDatabase -TargetDatabase ('other_' + [guid]::NewGuid().ToString('N').Substring(0, 8)) @server -Confirm:$false -WarningVariable warnings -WarningAction SilentlyContinue
        Test-DatabaseExists $staging | Should -BeTrue
        ($warnings -join "`n") | Should -Match "$staging .*NOT dropped.*ALTER DATABASE ""$staging"" RENAME TO ""$target"""
        $found = Remove-PgScratchDatabase -Name $staging -Force @server -WarningAction SilentlyContinue
        $found.State | Should -Be 'Interrupted'
        $found.Dropped | Should -BeFalse
        $found.ReplacedDatabase | Should -Be $replaced
        Test-DatabaseExists $staging | Should -BeTrue
        $null = $cluster.Psql("DROP DATABASE $staging"); $null = $cluster.Psql("DROP DATABASE $replaced")
    }

    It 'reports, never drops, the database it renamed away once it was killed after the second rename' {
        $replaced = 'pgbt_replaced_' + [guid]::NewGuid().ToString('N').Substring(0, 12)
        $cluster.CreateDatabase($replaced) # the old data, renamed away
        $target = New-AuditDatabase -Cluster $cluster -Rows 10 # the restored copy, in place under the target name, still carrying the marker
        $marker = [ordered]@{ tool = 'PgBackupTools'; purpose = 'restore'; host = [Environment]::MachineName; pid = (Get-EndedProcessId)
            processStart = [datetime]::UtcNow.ToString('o'); created = [datetime]::UtcNow.ToString('o'); phase = 'placing'; target = $target; replaced = $replaced }
        $null = $cluster.Psql("COMMENT ON DATABASE $target IS '$($marker | ConvertTo-Json -Compress)'")
        $null = $small | Restore-PgDatabase -TargetDatabase ('other_' + [guid]::NewGuid().ToString('N').Substring(0, 8)) @server -Confirm:$false -WarningVariable warnings -WarningAction SilentlyContinue
        ($warnings -join "`n") | Should -Match "Database $replaced .*NOT dropped.*'$target' now holds the restored backup.*DROP DATABASE ""$replaced"""
        $found = Remove-PgScratchDatabase -Name $replaced -Force @server -WarningAction SilentlyContinue
        $found.State | Should -Be 'Interrupted'
        $found.Dropped | Should -BeFalse
        Test-DatabaseExists $replaced | Should -BeTrue
        Test-DatabaseExists $target | Should -BeTrue
        $null = $cluster.Psql("DROP DATABASE $replaced")
    }

    It 'is dropped when it was killed before the first rename (the target still there, nothing renamed away)' {
        $target = New-AuditDatabase -Cluster $cluster -Rows 10
        $staging = New-ScratchDatabase -Prefix 'pgbt_restore_' -ProcessId (Get-EndedProcessId) -Phase placing -Target $target -Replaced ('pgbt_replaced_' + [guid]::NewGuid().ToString('N').Substring(0, 12))
        $found = Remove-PgScratchDatabase -Name $staging -Force @server
        $found.Dropped | Should -BeTrue
        Test-DatabaseExists $staging | Should -BeFalse
        $cluster.Psql('SELECT count(*) FROM audit_events', $target) | Should -Be '10'
    }
}

Describe 'Remove-PgScratchDatabase -WhatIf' {
    It 'lists what it would drop and drops nothing; Restore-PgDatabase -WhatIf drops nothing either' {
        $abandoned = New-ScratchDatabase -ProcessId (Get-EndedProcessId)
        $found = Remove-PgScratchDatabase -Name $abandoned @server -WhatIf
        $found.State | Should -Be 'Abandoned'
        $found.Dropped | Should -BeFalse
        Test-DatabaseExists $abandoned | Should -BeTrue
        $small | Restore-PgDatabase -TargetDatabase 'whatif_target' @server -WhatIf
        Test-DatabaseExists $abandoned | Should -BeTrue
        Test-DatabaseExists 'whatif_target' | Should -BeFalse
        $found = Remove-PgScratchDatabase -Name $abandoned @server -Confirm:$false
        $found.Dropped | Should -BeTrue
        Test-DatabaseExists $abandoned | Should -BeFalse
    }

    It 'writes objects with a table and a list view' {
        $abandoned = New-ScratchDatabase -ProcessId (Get-EndedProcessId)
        $found = Remove-PgScratchDatabase -Name $abandoned @server -WhatIf
        ($found | Format-Table | Out-String -Width 300) | Should -Match "$abandoned\s+Abandoned\s+False"
        ($found | Format-List | Out-String -Width 300) | Should -Match 'Reason\s+: It was made by process'
        $null = Remove-PgScratchDatabase -Name $abandoned @server -Force
    }
}
