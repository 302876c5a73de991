#!/usr/bin/env pwsh
<#
.SYNOPSIS
    Disaster recovery runbook: bring a PostgreSQL cluster back from the repository to a point in time, in seven steps.
.DESCRIPTION
    1. Find the newest physical backup that ends before the recovery target.
    2. Verify it (every stored file's checksum against its manifest); if it fails, fall back to the one before.
    3. Stop the old server if it still runs on the data directory.
    4. Move the old data directory's content aside (kept, never deleted: <dir>.pgbt-old-<time>).
    5. Restore the backup and replay archived WAL up to the target (-TargetTime / -TargetLsn, default: all archived WAL).
    6. Start the server and wait until recovery reached the target and it was promoted.
    7. Verify: count the rows of every table in -VerifyDatabase (and check -ExpectedMinimumRows), then report
       every step, the recovery point reached and the measured recovery time.

    -Rehearsal restores with archiving off (Restore-PgDatabase -ArchiveMode Off): a drill into a spare directory
    must not archive its new timeline into the stanza production still archives into. A real recovery keeps
    archiving, so the recovered server goes on writing its WAL into the repository.

    -WhatIf walks the steps and says what each would do, reading the repository (steps 1-2 run: they change
    nothing) but stopping, moving, restoring and starting nothing. Exit code 1 if any step failed.
.EXAMPLE
    ./Invoke-DisasterRecovery.ps1 -Repository /srv/pgbackup -DataDirectory /var/lib/postgresql/15/main -TargetTime '2026-11-24 09:55:00Z' -VerifyDatabase app -WhatIf
    Shows the plan: which backup, verified, and what would be stopped, moved and restored.
.EXAMPLE
    ./Invoke-DisasterRecovery.ps1 -Repository /srv/pgbackup -DataDirectory /srv/dr-drill -Port 5499 -VerifyDatabase app -Rehearsal -Confirm:$false
    A quarterly rehearsal beside production: recovered into a spare directory on port 5499, verified, not archiving.
.EXAMPLE
    ./Invoke-DisasterRecovery.ps1 -Repository /srv/pgbackup -DataDirectory /var/lib/postgresql/15/main -TargetTime '2026-11-24 09:55:00Z' -VerifyDatabase app -ExpectedMinimumRows @{ 'app:public.orders' = 100000 } -Confirm:$false
#>
[CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'High')]
param(
    [Parameter(Mandatory)] [string]$Repository,
    [Parameter(Mandatory)] [string]$DataDirectory,
    [string]$Stanza = 'main',
    [datetimeoffset]$TargetTime,
    [string]$TargetLsn,
    [int]$Port = 5432,
    [string]$Owner,
    [string[]]$VerifyDatabase = @(),
    # 'database:schema.table' = minimum rows after recovery
    [hashtable]$ExpectedMinimumRows = @{},
    [string]$BinDirectory,
    [string]$PassphraseFile,
    [string]$ModulePath = 'PgBackupTools',
    [switch]$Rehearsal
)
$ErrorActionPreference = 'Stop'
if (-not [Environment]::UserInteractive -or [Console]::IsOutputRedirected) { $ProgressPreference = 'SilentlyContinue' }
Import-Module $ModulePath
$clock = [Diagnostics.Stopwatch]::StartNew()
$steps = [System.Collections.Generic.List[object]]::new()
function Step([int]$Number, [string]$Name, [string]$Result, [string]$State = 'done') {
    $steps.Add([pscustomobject]@{ Step = $Number; Name = $Name; State = $State; Result = $Result; At = [math]::Round($clock.Elapsed.TotalSeconds, 1) })
    Write-Output ('{0}. {1,-28} {2,-8} {3}' -f $Number, $Name, $State, $Result)
}
function Report([int]$ExitCode) {
    Write-Output ''
    Write-Output ('Recovery {0} after {1:N1} s.' -f $(if ($ExitCode) { 'FAILED' } elseif ($WhatIfPreference) { 'planned (WhatIf)' } else { 'finished' }), $clock.Elapsed.TotalSeconds)
    exit $ExitCode
}
if (-not $BinDirectory) {
    $BinDirectory = Get-ChildItem /usr/lib/postgresql/*/bin -Directory -ErrorAction SilentlyContinue | Sort-Object FullName | Select-Object -Last 1 -ExpandProperty FullName
    if (-not $BinDirectory) { $BinDirectory = Split-Path (Get-Command pg_ctl -ErrorAction SilentlyContinue).Source }
}
$passphrase = @{}
if ($PassphraseFile) { $passphrase.PassphraseFile = $PassphraseFile }

try {
    # 1 + 2: newest backup before the target that passes verification.
    $candidates = @(Get-PgBackup -Repository $Repository -Stanza $Stanza -Type Physical @passphrase | Sort-Object EndTime -Descending)
    if ($TargetTime) { $candidates = @($candidates | Where-Object { $_.EndTime -le $TargetTime }) }
    if (-not $candidates) { Step 1 'Find newest good backup' "no physical backup of stanza '$Stanza'$(if ($TargetTime) { " ending before $TargetTime" })" 'FAILED'; Report 1 }
    $chosen = $null
    foreach ($candidate in $candidates) {
        $check = $candidate | Test-PgBackup @passphrase -ErrorAction SilentlyContinue
        if ($check.Passed) { $chosen = $candidate; break }
        Step 2 'Verify backup' "$($candidate.Id) failed its checksums: $($check.Error); trying an older one" 'FAILED'
    }
    if (-not $chosen) { Step 2 'Verify backup' 'no backup passed verification' 'FAILED'; Report 1 }
    Step 1 'Find newest good backup' ('{0}, ended {1:u}, WAL {2}..{3}' -f $chosen.Id, $chosen.EndTime.UtcDateTime, $chosen.StartLsn, $chosen.StopLsn)
    Step 2 'Verify backup' "$($chosen.Files.Count) file(s) match their checksums"

    # 3: stop the old server, as the data directory's owner (pg_ctl refuses root).
    $pgCtl = Join-Path $BinDirectory 'pg_ctl'
    $running = Test-Path (Join-Path $DataDirectory 'postmaster.pid')
    if (-not $running) { Step 3 'Stop old server' 'not running' 'skipped' }
    elseif ($PSCmdlet.ShouldProcess($DataDirectory, 'Stop the PostgreSQL server (pg_ctl stop -m fast)')) {
        $dirOwner = if ($IsLinux -or $IsMacOS) { (& stat -c %U $DataDirectory) } else { $null }
        if ($dirOwner -and [Environment]::UserName -eq 'root') { & runuser -u $dirOwner -- $pgCtl -D $DataDirectory -m fast -w stop }
        else { & $pgCtl -D $DataDirectory -m fast -w stop }
        if ($LASTEXITCODE) { throw "pg_ctl stop failed with exit code $LASTEXITCODE" }
        Step 3 'Stop old server' 'stopped'
    }
    else { Step 3 'Stop old server' "would stop the server on $DataDirectory" 'WhatIf' }

    # 4 + 5 + 6: Restore-PgDatabase -Force moves the old content aside, restores, recovers to the target and starts.
    $target = @{}
    if ($TargetTime) { $target.TargetTime = $TargetTime }
    if ($TargetLsn) { $target.TargetLsn = $TargetLsn }
    $ownerSplat = @{}
    if ($Owner) { $ownerSplat.Owner = $Owner }
    $hasContent = (Test-Path $DataDirectory) -and @(Get-ChildItem -Force $DataDirectory).Count
    $what = "restore backup $($chosen.Id) to $(if ($target.Count) { ($target.GetEnumerator() | ForEach-Object { "$($_.Key) $($_.Value)" }) -join ', ' } else { 'the end of the archived WAL' }) and start it on port $Port"
    if ($PSCmdlet.ShouldProcess($DataDirectory, "Move the old content aside, $what")) {
        $result = $chosen | Restore-PgDatabase -DataDirectory $DataDirectory -Force -Start -Port $Port @target @ownerSplat @passphrase -Confirm:$false `
            -ArchiveMode $(if ($Rehearsal) { 'Off' } else { 'Preserve' })
        Step 4 'Move old data aside' $(if ($result.MovedAsideTo) { "kept in $($result.MovedAsideTo)" } else { 'nothing to move' })
        Step 5 'Restore with PITR target' ('{0} restored, target {1}' -f $result.BackupId, $result.Target)
        Step 6 'Start server' ('{0} on port {1}: reached LSN {2}{3}, timeline {4}' -f $result.RecoveryState, $result.Port, $result.ReachedLsn,
            $(if ($result.ReachedTime) { ' (last transaction {0:u})' -f $result.ReachedTime.UtcDateTime }), $result.Timeline)
    }
    else {
        Step 4 'Move old data aside' $(if ($hasContent) { "would move the content of $DataDirectory aside" } else { 'nothing to move' }) 'WhatIf'
        Step 5 'Restore with PITR target' "would $what" 'WhatIf'
        Step 6 'Start server' "would start on port $Port and wait for recovery" 'WhatIf'
    }

    # 7: row counts in the recovered databases.
    if ($WhatIfPreference) { Step 7 'Verify row counts' "would count the rows of every table in: $($VerifyDatabase -join ', ')" 'WhatIf'; Report 0 }
    $psql = Join-Path $BinDirectory 'psql'
    $bad = 0
    foreach ($db in $VerifyDatabase) {
        $sql = "SELECT format('%I.%I', schemaname, relname) FROM pg_stat_user_tables ORDER BY 1"
        $tables = @(& $psql -h 127.0.0.1 -p $Port -U $(if ($Owner) { $Owner } else { 'postgres' }) -d $db -XAtq -c $sql)
        if ($LASTEXITCODE) { Step 7 'Verify row counts' "cannot query database $db" 'FAILED'; $bad++; continue }
        $counts = foreach ($table in $tables) {
            $n = [long](& $psql -h 127.0.0.1 -p $Port -U $(if ($Owner) { $Owner } else { 'postgres' }) -d $db -XAtq -c "SELECT count(*) FROM $table")
            $minimum = $ExpectedMinimumRows["${db}:$table"]
            if ($null -ne $minimum -and $n -lt $minimum) { $bad++ }
            '{0}={1}{2}' -f $table, $n, $(if ($null -ne $minimum -and $n -lt $minimum) { " (expected at least $minimum)" })
        }
        Step 7 'Verify row counts' "$db`: $($counts -join ', ')" $(if ($bad) { 'FAILED' } else { 'done' })
    }
    foreach ($key in $ExpectedMinimumRows.Keys) {
        if ($VerifyDatabase -notcontains ($key -split ':')[0]) { Step 7 'Verify row counts' "$key is not in -VerifyDatabase" 'FAILED'; $bad++ }
    }
    Report $(if ($bad) { 1 } else { 0 })
}
catch {
    Step ($steps.Count + 1) 'Error' $_.Exception.Message 'FAILED'
    Report 1
}
