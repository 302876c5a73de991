<#
.SYNOPSIS
    Azure Automation runbook: back up PostgreSQL databases into a repository, prove them, and report their status.
.DESCRIPTION
    Runs on a Hybrid Runbook Worker (a VM you own, registered with the Automation account). The Azure cloud sandbox
    cannot run it: it has no pg_dump, no psql and no network path to a private server. Install on the worker:
    PowerShell 7.4+, the PostgreSQL client tools (pg_dump, pg_restore, psql) and this module (Install-Module
    PgBackupTools, or copy the module folder into the worker's module path). Select "Run on: Hybrid Worker" and the
    worker group when you link the runbook to a schedule.

    The database password comes from an Automation credential asset (Get-AutomationPSCredential), never from a
    runbook parameter or a variable in clear text. An encrypted repository's passphrase comes from an encrypted
    Automation variable copied into PGBACKUPTOOLS_PASSPHRASE for this process only.

    The runbook is quiet (no progress stream) and fails the job when anything fails: it throws at the end, after every
    database was tried, so the job shows "Failed" and its output says which database and why.
.PARAMETER Repository
    The repository: a directory on the worker, s3://bucket/prefix or az://account/container/prefix.
.PARAMETER Database
    Databases to back up ("app,billing" is accepted, as schedules pass one string).
.PARAMETER CredentialName
    The name of the Automation credential asset with the PostgreSQL role and password.
.PARAMETER PassphraseVariableName
    The name of an encrypted Automation variable holding the repository passphrase; empty for an unencrypted repository.
.EXAMPLE
    Start-AzAutomationRunbook -AutomationAccountName ops -ResourceGroupName rg-ops -Name Invoke-AzureAutomationBackup `
        -RunOn 'pg-workers' -Parameters @{ Repository = 'az://backupsacct/pg/prod'; Database = 'app,billing'; HostName = 'db1.internal' }
#>
param(
    [Parameter(Mandatory)] [string]$Repository,
    [Parameter(Mandatory)] [string[]]$Database,
    [Parameter(Mandatory)] [string]$HostName,
    [int]$Port = 5432,
    [string]$CredentialName = 'PostgreSQL',
    [string]$PassphraseVariableName = '',
    [switch]$SkipTestRestore,
    [string]$ModulePath = 'PgBackupTools'
)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue' # a runbook has no console; progress records only fill the job's streams
Import-Module $ModulePath

$credential = Get-AutomationPSCredential -Name $CredentialName
if (-not $credential) { throw "The Automation credential asset '$CredentialName' does not exist or is empty. Create it under Shared Resources > Credentials." }
if ($PassphraseVariableName) {
    $env:PGBACKUPTOOLS_PASSPHRASE = Get-AutomationVariable -Name $PassphraseVariableName
}
$connection = @{ HostName = $HostName; Port = $Port; Credential = $credential }
$Database = $Database -split ',' | ForEach-Object Trim | Where-Object { $_ }

$failures = [System.Collections.Generic.List[string]]::new()
foreach ($db in $Database) {
    try {
        $backup = Invoke-PgBackup -Repository $Repository -Database $db @connection
        Write-Output ('OK backup {0} of {1}: {2:N1} MiB stored in {3:N1} s' -f $backup.Id, $db, ($backup.StoredBytes / 1MB), $backup.Duration.TotalSeconds)
        if (-not $SkipTestRestore) {
            $test = $backup | Test-PgBackup -Restore @connection -ErrorAction Continue
            if (-not $test.Passed) { $failures.Add("test restore of $db failed: $($test.Error)"); continue }
            Write-Output ('OK test restore of {0} in {1:N1} s ({2} checks)' -f $backup.Id, $test.Duration.TotalSeconds, $test.Checks.Count)
        }
    }
    catch {
        $failures.Add("$db`: $($_.Exception.Message)")
    }
}
# The recovery-objectives report goes into the job output, as evidence for audits.
Get-PgBackupStatus -Repository $Repository -Report | Format-Table -Wrap | Out-String -Width 200 | Write-Output
if ($failures.Count) { throw "Backup runbook failed for $($failures.Count) database(s): $($failures -join '; ')" }
