<#
.SYNOPSIS
    Registers a Windows scheduled task that starts the WAL stream at boot and keeps it running.
.DESCRIPTION
    Runs Start-PgWalStream in pwsh -NoProfile -NonInteractive as SYSTEM (or -User) when the machine starts, restarts
    it if it ends with an error, and never stops it for running too long. Stop it cleanly (its partial segment flushed)
    with Stop-PgWalStream -Repository <same> -StateDirectory <same>, or Stop-ScheduledTask, which ends the process after
    the repository holds everything the stream had confirmed (the slot resumes there on the next start).
    The replication role's password belongs in %APPDATA%\postgresql\pgpass.conf of the account.
.EXAMPLE
    ./Register-PgWalStreamTask.ps1 -Repository D:\pgbackup -HostName localhost -Slot pgbt -WhatIf
#>
[CmdletBinding(SupportsShouldProcess)]
param(
    [Parameter(Mandatory)] [string]$Repository,
    [string]$HostName = 'localhost',
    [string]$Username = 'postgres',
    [string]$Slot = 'pgbt',
    [string]$Stanza = 'main',
    [string]$StateDirectory = (Join-Path $env:ProgramData 'PgBackupTools'),
    [switch]$Synchronous,
    [string]$TaskName = 'PgBackupTools WAL stream',
    [string]$User = 'SYSTEM'
)
$stream = "Start-PgWalStream -Repository '$Repository' -Stanza '$Stanza' -HostName '$HostName' -Username '$Username' -Slot '$Slot' -CreateSlot -StateDirectory '$StateDirectory' -ErrorAction Stop"
if ($Synchronous) { $stream += ' -Synchronous' }
$arguments = "-NoProfile -NonInteractive -Command `"$stream`""
if ($PSCmdlet.ShouldProcess($TaskName, "Register a task at startup running pwsh $arguments")) {
    $action = New-ScheduledTaskAction -Execute 'pwsh.exe' -Argument $arguments
    $trigger = New-ScheduledTaskTrigger -AtStartup
    $settings = New-ScheduledTaskSettingsSet -StartWhenAvailable -ExecutionTimeLimit ([TimeSpan]::Zero) -RestartCount 999 -RestartInterval (New-TimeSpan -Minutes 1)
    $principal = New-ScheduledTaskPrincipal -UserId $User -LogonType ServiceAccount -RunLevel Limited
    Register-ScheduledTask -TaskName $TaskName -Action $action -Trigger $trigger -Settings $settings -Principal $principal -Description 'Streams PostgreSQL WAL into a PgBackupTools repository' -Force
}
