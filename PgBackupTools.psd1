@{
    RootModule           = 'PgBackupTools.dll'
    ModuleVersion        = '0.1.0'
    GUID                 = '5d0f3a52-8f0e-4a3b-9a57-2f1c6f0b7e41'
    Author               = 'PgBackupTools contributors'
    CompanyName          = 'PgBackupTools'
    Copyright            = '(c) PgBackupTools contributors. MIT License.'
    Description          = 'Backup and recovery for PostgreSQL: logical dumps streamed into a verified repository, checksums on every byte, and test restores that prove a backup.'
    PowerShellVersion    = '7.4'
    CompatiblePSEditions = @('Core')
    # The types cmdlets take and write; everything else loads privately (see ModuleInitializer.cs).
    RequiredAssemblies   = @('PgBackupTools.Model.dll')
    FormatsToProcess     = @('PgBackupTools.format.ps1xml')
    CmdletsToExport      = @(
        'Invoke-PgBackup'
        'Get-PgBackup'
        'Remove-PgBackup'
        'Restore-PgDatabase'
        'Test-PgBackup'
        'Remove-PgScratchDatabase'
        'Protect-PgBackupFile'
        'Unprotect-PgBackupFile'
        'Send-PgWalSegment'
        'Receive-PgWalSegment'
        'Test-PgWalArchive'
        'Enable-PgWalArchiving'
        'New-PgRepository'
        'Get-PgBackupStatus'
        'Export-PgBackupMetric'
        'Test-PgBackupConfiguration'
        'Start-PgWalStream'
        'Stop-PgWalStream'
        'New-PgVolumeSnapshot'
        'Get-PgVolumeSnapshot'
        'Remove-PgVolumeSnapshot'
        'Restore-PgVolumeSnapshot'
    )
    FunctionsToExport    = @()
    VariablesToExport    = @()
    AliasesToExport      = @()
    PrivateData          = @{
        PSData = @{
            Tags         = @('PostgreSQL', 'Postgres', 'Backup', 'Restore', 'pg_dump', 'DBA', 'Linux', 'Windows')
            LicenseUri   = 'https://opensource.org/licenses/MIT'
            ReleaseNotes = 'First release: logical backups (plain .sql.gz, custom, directory), checksummed file-system repository, restore and test restore.'
        }
    }
}
