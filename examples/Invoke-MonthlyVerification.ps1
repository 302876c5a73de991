#!/usr/bin/env pwsh
<#
.SYNOPSIS
    The monthly verification job: restore-test the newest backup of every database (and of the cluster), then write
    the metrics and the recovery-objectives report.
.DESCRIPTION
    For each stanza, the newest logical backup of each database and the newest physical backup are proven with
    Test-PgBackup -Restore: restored into a scratch database (logical) or a scratch server (physical), every table's
    row count compared with the backup's, then removed. Each result is recorded in the repository, so the status and
    the metrics show the measured restore time (RTO) until the next run. Then the metrics file is rewritten and the
    report printed.

    Quiet when scheduled (no progress bars without a console) and honest: exit code 1 if any test restore failed (or,
    with -FailOnMissedObjective, if any objective is missed), 0 otherwise.
.EXAMPLE
    pwsh -NoProfile -NonInteractive -File ./Invoke-MonthlyVerification.ps1 -Repository /srv/pgbackup -MetricsPath /var/lib/prometheus/node-exporter/pgbackup.prom
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string]$Repository,
    [string]$MetricsPath,
    [string]$Stanza,
    [switch]$SkipPhysical,
    [switch]$FailOnMissedObjective,
    [string]$RpoTarget = '5min',
    [string]$RtoTarget = '1h',
    [string]$HostName,
    [int]$Port,
    [string]$Username,
    [pscredential]$Credential,
    [string]$ModulePath = 'PgBackupTools'
)
$ErrorActionPreference = 'Stop'
if (-not [Environment]::UserInteractive -or [Console]::IsOutputRedirected) { $ProgressPreference = 'SilentlyContinue' }
Import-Module $ModulePath

$connection = @{}
foreach ($name in 'HostName', 'Port', 'Username', 'Credential') {
    if ($PSBoundParameters.ContainsKey($name)) { $connection[$name] = $PSBoundParameters[$name] }
}
$scope = @{}
if ($Stanza) { $scope.Stanza = $Stanza }

$backups = @(Get-PgBackup -Repository $Repository @scope)
$latest = $backups | Where-Object { -not ($SkipPhysical -and $_.Type -eq 'Physical') } |
    Group-Object { '{0}|{1}|{2}' -f $_.Stanza, $_.Type, $_.Database } |
    ForEach-Object { $_.Group | Sort-Object EndTime | Select-Object -Last 1 }
if (-not $latest) {
    Write-Output "FAILED: there is no backup in $Repository to verify."
    exit 1
}
$failures = 0
foreach ($backup in $latest) {
    $what = if ($backup.Database) { "database $($backup.Database)" } else { "cluster ($($backup.Type))" }
    try {
        $test = $backup | Test-PgBackup -Restore @connection -ErrorAction SilentlyContinue -ErrorVariable testErrors
        if (-not $test) { throw ($testErrors | Select-Object -First 1) }
        $state = if ($test.Passed) { 'OK' } else { $failures++; 'FAILED' }
        Write-Output ('{0:u} {1} test restore of {2} {3}: {4} checks in {5:N1} s{6}' -f (Get-Date).ToUniversalTime(), $state, $what, $backup.Id,
            $test.Checks.Count, $test.Duration.TotalSeconds, $(if ($test.Error) { ': ' + $test.Error }))
    }
    catch {
        $failures++
        Write-Output ('{0:u} FAILED test restore of {1} {2}: {3}' -f (Get-Date).ToUniversalTime(), $what, $backup.Id, $_.Exception.Message)
    }
}

$status = @(Get-PgBackupStatus -Repository $Repository @scope -RpoTarget $RpoTarget -RtoTarget $RtoTarget @connection)
if ($MetricsPath) { $status | Export-PgBackupMetric -Path $MetricsPath }
$status.Objectives | Format-Table -Wrap | Out-String -Width 200 | Write-Output
$missed = @($status.Objectives | Where-Object Status -ne 'Met')
if ($FailOnMissedObjective -and $missed.Count) {
    Write-Output "FAILED: $($missed.Count) recovery objective(s) not met."
    $failures++
}
exit $(if ($failures) { 1 } else { 0 })
