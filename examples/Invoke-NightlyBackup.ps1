#!/usr/bin/env pwsh
<#
.SYNOPSIS
    The nightly job: back up databases, apply retention, prove the new backups with a test restore.
.DESCRIPTION
    For cron, Kubernetes CronJobs, Task Scheduler and Azure Automation Hybrid Workers. It is quiet when it runs
    without a console (no progress bars), prints one line per database, and exits non-zero if anything failed, so
    the scheduler sees the failure. Connection settings come from the usual PG* variables and ~/.pgpass unless
    given; an encrypted repository's passphrase from PGBACKUPTOOLS_PASSPHRASE.
.EXAMPLE
    pwsh -NoProfile -NonInteractive -File ./Invoke-NightlyBackup.ps1 -Repository /srv/pgbackup -Database app, billing
.EXAMPLE
    # crontab: every night at 02:15, as the user whose ~/.pgpass holds the password
    15 2 * * * pwsh -NoProfile -NonInteractive -File /opt/pgbackup/Invoke-NightlyBackup.ps1 -Repository /srv/pgbackup -Database app >>/var/log/pgbackup.log 2>&1
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string]$Repository,
    [Parameter(Mandatory)] [string[]]$Database,
    [ValidateSet('Plain', 'Custom')] [string]$Format = 'Plain',
    [ValidateSet('Gzip', 'Zstd', 'Lz4', 'None')] [string]$Compression = 'Gzip',
    [int]$RetentionDays = 30,
    [int]$KeepLast = 7,
    [switch]$SkipTestRestore,
    [string]$HostName,
    [int]$Port,
    [string]$Username,
    [pscredential]$Credential,
    [string]$ModulePath = 'PgBackupTools'
)
$ErrorActionPreference = 'Stop'
if (-not [Environment]::UserInteractive -or [Console]::IsOutputRedirected) { $ProgressPreference = 'SilentlyContinue' }
Import-Module $ModulePath
# Schedulers pass one string with -File: accept "app,billing" as two databases.
$Database = $Database -split ',' | ForEach-Object Trim | Where-Object { $_ }

$connection = @{}
foreach ($name in 'HostName', 'Port', 'Username', 'Credential') {
    if ($PSBoundParameters.ContainsKey($name)) { $connection[$name] = $PSBoundParameters[$name] }
}
$failures = 0
foreach ($db in $Database) {
    try {
        $backup = Invoke-PgBackup -Repository $Repository -Database $db -Format $Format -Compression $Compression `
            -RetentionDays $RetentionDays -KeepLast $KeepLast @connection
        $line = '{0:u} OK backup {1} of {2}: {3:N1} MiB stored in {4:N1} s' -f (Get-Date).ToUniversalTime(), $backup.Id, $db, ($backup.StoredBytes / 1MB), $backup.Duration.TotalSeconds
        if (-not $SkipTestRestore) {
            $test = $backup | Test-PgBackup -Restore @connection
            $line += '; test restore {0} in {1:N1} s ({2} checks)' -f $(if ($test.Passed) { 'passed' } else { 'FAILED' }), $test.Duration.TotalSeconds, $test.Checks.Count
        }
        Write-Output $line
    }
    catch {
        $failures++
        Write-Output ('{0:u} FAILED {1}: {2}' -f (Get-Date).ToUniversalTime(), $db, $_.Exception.Message)
    }
}
exit $(if ($failures) { 1 } else { 0 })
