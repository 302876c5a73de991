<#
.SYNOPSIS
    Registers the nightly job with Windows Task Scheduler.
.DESCRIPTION
    Runs Invoke-NightlyBackup.ps1 every night with pwsh -NoProfile -NonInteractive, so a failure sets the task's
    last result to non-zero. The account's password for PostgreSQL belongs in %APPDATA%\postgresql\pgpass.conf.
.EXAMPLE
    ./Register-PgBackupTask.ps1 -Repository D:\pgbackup -Database app, billing -At 02:15 -WhatIf
#>
[CmdletBinding(SupportsShouldProcess)]
param(
    [Parameter(Mandatory)] [string]$Repository,
    [Parameter(Mandatory)] [string[]]$Database,
    [datetime]$At = '02:15',
    [string]$TaskName = 'PgBackupTools nightly backup',
    [string]$ScriptPath = (Join-Path $PSScriptRoot 'Invoke-NightlyBackup.ps1')
)
$arguments = "-NoProfile -NonInteractive -File `"$ScriptPath`" -Repository `"$Repository`" -Database $($Database -join ',')"
if ($PSCmdlet.ShouldProcess($TaskName, "Register a daily task at $($At.ToString('HH:mm')) running pwsh $arguments")) {
    $action = New-ScheduledTaskAction -Execute 'pwsh.exe' -Argument $arguments
    $trigger = New-ScheduledTaskTrigger -Daily -At $At
    $settings = New-ScheduledTaskSettingsSet -StartWhenAvailable -ExecutionTimeLimit (New-TimeSpan -Hours 6)
    Register-ScheduledTask -TaskName $TaskName -Action $action -Trigger $trigger -Settings $settings -Description 'Backs up PostgreSQL with PgBackupTools' -Force
}
