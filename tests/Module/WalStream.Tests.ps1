# Start-PgWalStream as a long-running process (as a service runs it), stopped by Stop-PgWalStream and by SIGTERM:
# both flush first, exit 0 and leave the position in the repository.
BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-Module $ModulePath -Force
    $script:cluster = Start-TestCluster
    $script:work = New-TestDirectory
    $script:repo = Join-Path $work 'repo'
    $script:state = Join-Path $work 'state'
    $null = Invoke-PgBackup -Repository $repo -Database postgres -HostName $cluster.Host -Port $cluster.Port -Username postgres # creates the repository
    $script:pwsh = Join-Path $PSHOME 'pwsh'
    function ConvertFrom-Lsn([string]$Text) { $hi, $lo = $Text.Split('/'); ([Convert]::ToUInt64($hi, 16) -shl 32) + [Convert]::ToUInt64($lo, 16) }
    function Start-StreamProcess([string]$Name) {
        $command = "Import-Module '$ModulePath'; Start-PgWalStream -Repository '$repo' -HostName $($cluster.Host) -Port $($cluster.Port) -Username postgres " +
            "-Slot pgbt_pester -CreateSlot -StateDirectory '$state' -FlushInterval 0:0:0.5 -ErrorAction Stop | ConvertTo-Json -Compress"
        $out = Join-Path $work "$Name.out"; $err = Join-Path $work "$Name.err"
        $process = Start-Process $pwsh -ArgumentList '-NoProfile', '-NonInteractive', '-Command', $command -PassThru -RedirectStandardOutput $out -RedirectStandardError $err
        @{ Process = $process; Out = $out; Err = $err }
    }
    function Wait-Until([scriptblock]$Condition, [string]$What, $Stream) {
        $deadline = (Get-Date).AddSeconds(120)
        while (-not (& $Condition)) {
            if ($Stream.Process.HasExited) { throw "the stream exited waiting for ${What}: $(Get-Content -Raw $Stream.Err)" }
            if ((Get-Date) -gt $deadline) { throw "timed out waiting for ${What}: $(Get-Content -Raw $Stream.Err)" }
            Start-Sleep -Milliseconds 200
        }
    }
    # Start-Process copies a redirected stdout into its file from event handlers; WaitForExit(timeout) can return
    # before the last line is written, and only the untimed WaitForExit() waits for them.
    function Wait-StreamExit($Stream) {
        $Stream.Process.WaitForExit(30000) | Should -BeTrue
        $Stream.Process.WaitForExit()
    }
    $script:streamJson = Join-Path $repo 'wal/main/stream.json'
}

AfterAll {
    Get-Variable -Scope Script -Name streams -ErrorAction SilentlyContinue | ForEach-Object { $_.Value } | Where-Object { -not $_.HasExited } | ForEach-Object { $_.Kill() }
    if ($script:cluster) { $script:cluster.Dispose() }
    Remove-Item -Recurse -Force $script:work -ErrorAction SilentlyContinue
}

Describe 'Start-PgWalStream / Stop-PgWalStream' {
    It 'streams until Stop-PgWalStream, which returns once the last commit is durable in the repository and the process has exited' {
        $stream = Start-StreamProcess 'first'
        $script:streams = @($stream.Process)
        Wait-Until { Test-Path $streamJson } 'the first confirmed position' $stream
        $null = $cluster.Psql('CREATE TABLE s(id int); INSERT INTO s SELECT generate_series(1, 100)')
        $lsn = ConvertFrom-Lsn $cluster.Psql('SELECT pg_current_wal_lsn()')

        $status = Stop-PgWalStream -Repository $repo -StateDirectory $state -PassThru
        $status | Should -BeOfType ([PgBackupTools.PgWalStreamStatus])
        (ConvertFrom-Lsn $status.FlushLsn) | Should -BeGreaterOrEqual $lsn
        $status.Slot | Should -Be 'pgbt_pester'
        $status.ProcessId | Should -Be $stream.Process.Id
        Wait-StreamExit $stream
        $stream.Process.ExitCode | Should -Be 0 -Because (Get-Content -Raw $stream.Err)
        (Get-Content -Raw $stream.Out | ConvertFrom-Json).FlushLsn | Should -Be $status.FlushLsn
        # The slot never passes what the repository holds.
        (ConvertFrom-Lsn $cluster.Psql("SELECT restart_lsn FROM pg_replication_slots WHERE slot_name = 'pgbt_pester'")) | Should -BeLessOrEqual (ConvertFrom-Lsn $status.FlushLsn)
    }

    It 'shows the streamed position in Get-PgBackupStatus and Export-PgBackupMetric' {
        $flushed = (Get-Content -Raw $streamJson | ConvertFrom-Json).flushLsn
        $cluster_ = Get-PgBackupStatus -Repository $repo -HostName $cluster.Host -Port $cluster.Port -Username postgres | Where-Object { $null -eq $_.Database }
        $wal = $cluster_.Wal
        $wal.StreamedLsn | Should -Be $flushed
        $wal.StreamLagBytes | Should -BeGreaterOrEqual 0
        $wal.RecoveryPoints.Source | Should -Contain 'stream'
        ($wal.RecoveryPoints | Where-Object Source -eq 'stream').Position | Should -Be $flushed
        ($cluster_ | Format-List | Out-String) | Should -Match "streamed to $([regex]::Escape($flushed))"

        $prom = Join-Path $work 'stream.prom'
        $cluster_ | Export-PgBackupMetric -Path $prom
        $metrics = Get-Content -Raw $prom
        $metrics | Should -Match 'postgres_backup_wal_stream_flush_timestamp_seconds\{stanza="main"\} \d'
        $metrics | Should -Match 'postgres_backup_wal_stream_lag_bytes\{stanza="main"\} \d'
    }

    It 'says so when no stream runs' {
        { Stop-PgWalStream -Repository $repo -StateDirectory $state -ErrorAction Stop } | Should -Throw '*No WAL stream*'
    }

    It 'stops cleanly on SIGTERM, as systemd stops a service' -Skip:$IsWindows {
        $stream = Start-StreamProcess 'sigterm'
        $script:streams += $stream.Process
        Wait-Until { @(Get-ChildItem $state -Filter '*.lock' -ErrorAction SilentlyContinue).Count -gt 0 -and (Test-Path $streamJson) } 'the stream to run' $stream
        $null = $cluster.Psql('INSERT INTO s SELECT generate_series(101, 200)')
        $lsn = ConvertFrom-Lsn $cluster.Psql('SELECT pg_current_wal_lsn()')
        Wait-Until { (ConvertFrom-Lsn (Get-Content -Raw $streamJson | ConvertFrom-Json).flushLsn) -ge $lsn } 'the rows to be durable' $stream
        & kill -TERM $stream.Process.Id
        Wait-StreamExit $stream
        $stream.Process.ExitCode | Should -Be 0 -Because (Get-Content -Raw $stream.Err)
        (ConvertFrom-Lsn (Get-Content -Raw $stream.Out | ConvertFrom-Json).FlushLsn) | Should -BeGreaterOrEqual $lsn
    }
}
