# Repositories in object stores through the module: s3rver and Azurite started on 127.0.0.1 by the test kit, the real
# SDKs over HTTP, a real PostgreSQL, and the same cmdlets a user runs.
BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-Module $ModulePath -Force
    $script:cluster = Start-TestCluster
    $script:server = @{ HostName = $cluster.Host; Port = $cluster.Port; Username = 'postgres' }
    $script:db = New-AuditDatabase -Cluster $cluster -Rows 300
    $script:s3 = [PgBackupTools.TestKit.S3rverEmulator]::Start([string[]]@('backups'))
    $script:azurite = [PgBackupTools.TestKit.AzuriteEmulator]::Start()
    $script:secret = ConvertTo-SecureString ([PgBackupTools.TestKit.S3rverEmulator]::SecretAccessKey) -AsPlainText -Force
    $script:accountKey = ConvertTo-SecureString ([PgBackupTools.TestKit.AzuriteEmulator]::AccountKey) -AsPlainText -Force
}

AfterAll {
    if ($script:s3) { $script:s3.Dispose() }
    if ($script:azurite) { $script:azurite.Dispose() }
    if ($script:cluster) { $script:cluster.Dispose() }
}

Describe 'New-PgRepository' {
    It 'parses each kind of location and never shows a secret' {
        $repo = New-PgRepository s3://backups/pg/prod -EndpointUrl $s3.Endpoint -AccessKeyId S3RVER -SecretAccessKey $secret -StorageClass STANDARD_IA
        $repo.StoreKind | Should -Be 'S3'
        $repo.Location | Should -Be 's3://backups/pg/prod'
        "$repo" | Should -Be 's3://backups/pg/prod'
        ($repo | Format-List | Out-String) | Should -Not -Match 'S3RVER'
        ($repo | Format-Table | Out-String) | Should -Match 'explicit access key'
        (New-PgRepository az://acct/cont/p).StoreKind | Should -Be 'AzureBlob'
        (New-PgRepository $TestDrive).StoreKind | Should -Be 'FileSystem'
    }

    It 'refuses options that do not fit the store' {
        { New-PgRepository s3://b/p -AccessTier Cool -ErrorAction Stop } | Should -Throw '*AccessTier*S3*'
        { New-PgRepository ftp://x/y -ErrorAction Stop } | Should -Throw '*not a supported repository location*'
    }
}

Describe 'A repository in <Name>' -ForEach @(
    @{ Name = 'S3 (s3rver)'; Kind = 'S3' }
    @{ Name = 'Azure Blob (Azurite)'; Kind = 'Azure' }
) {
    BeforeAll {
        $prefix = 'pester-' + [guid]::NewGuid().ToString('N').Substring(0, 8)
        if ($Kind -eq 'S3') {
            $script:repo = New-PgRepository "s3://backups/$prefix" -EndpointUrl $s3.Endpoint -AccessKeyId S3RVER -SecretAccessKey $secret
        }
        else {
            $script:container = 'c' + [guid]::NewGuid().ToString('N').Substring(0, 8)
            $azurite.CreateContainer($container)
            $script:repo = New-PgRepository "az://devstoreaccount1/$container/$prefix" -EndpointUrl $azurite.BlobEndpoint -AccountKey $accountKey
        }
    }

    It 'backs up, lists by the location string alone, and the piped backup passes a test restore' {
        $backup = Invoke-PgBackup -Repository $repo -Database $db -Format Custom @server
        $backup.Repository | Should -Be $repo.Location
        # A plain string finds the options New-PgRepository registered for this location in the session.
        $listed = Get-PgBackup -Repository $repo.Location
        $listed.Id | Should -Be $backup.Id
        $result = $listed | Test-PgBackup -Restore @server
        $result.Passed | Should -BeTrue
        $result.Restored | Should -BeTrue
    }

    It 'a store that does not answer is a ConnectionError naming the store, and no backup is made' {
        $port = [PgBackupTools.TestKit.PgTestCluster]::FindFreePort()
        $location = $repo.Location + '-down'
        $endpoint = if ($Kind -eq 'S3') { "http://127.0.0.1:$port" } else { "http://127.0.0.1:$port/devstoreaccount1" }
        $down = if ($Kind -eq 'S3') { New-PgRepository $location -EndpointUrl $endpoint -AccessKeyId S3RVER -SecretAccessKey $secret -MaxRetries 0 }
                else { New-PgRepository $location -EndpointUrl $endpoint -AccountKey $accountKey -MaxRetries 0 }
        $err = { Invoke-PgBackup -Repository $down -Database $db @server -ErrorAction Stop } | Should -Throw -PassThru
        $err.CategoryInfo.Category | Should -Be 'ConnectionError'
        $err.Exception.Message | Should -BeLike "*$location*cannot be reached*"
        $err.Exception.Message | Should -Not -Match ([regex]::Escape([PgBackupTools.TestKit.AzuriteEmulator]::AccountKey))
    }

    It 'Ctrl+C (StopProcessing) during an upload stops the backup and leaves no backup and no object' {
        $bigDb = 'big_' + [guid]::NewGuid().ToString('N').Substring(0, 8)
        $cluster.CreateDatabase($bigDb)
        $null = $cluster.Psql("CREATE TABLE t AS SELECT g, md5(g::text) || repeat('x', 200) AS v FROM generate_series(1, 300000) g;", $bigDb)
        $stopPrefix = 'stop-' + [guid]::NewGuid().ToString('N').Substring(0, 8)
        $stopRepo = if ($Kind -eq 'S3') { New-PgRepository "s3://backups/$stopPrefix" -EndpointUrl $s3.Endpoint -AccessKeyId S3RVER -SecretAccessKey $secret -PartSizeMB 5 }
                    else { New-PgRepository "az://devstoreaccount1/$container/$stopPrefix" -EndpointUrl $azurite.BlobEndpoint -AccountKey $accountKey -PartSizeMB 5 }
        # The backup runs in a second runspace of this process, so Stop() is what Ctrl+C does: StopProcessing on the cmdlet.
        $ps = [powershell]::Create()
        $null = $ps.AddScript({
                param($ModulePath, $Repository, $Database, $Server)
                Import-Module $ModulePath
                Invoke-PgBackup -Repository $Repository -Database $Database -Format Plain -Compression None @Server
            }).AddArgument($ModulePath).AddArgument($stopRepo).AddArgument($bigDb).AddArgument($server)
        try {
            $async = $ps.BeginInvoke()
            # Stop once the dump is streaming into the store (its first progress records).
            $deadline = [DateTime]::UtcNow.AddSeconds(120)
            while ($ps.Streams.Progress.Count -lt 2 -and -not $async.IsCompleted -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 20 }
            $async.IsCompleted | Should -BeFalse -Because 'the backup must still be uploading when it is stopped'
            $ps.Stop()
            { $ps.EndInvoke($async) } | Should -Throw
        }
        finally { $ps.Dispose() }
        Get-PgBackup -Repository $stopRepo | Should -BeNullOrEmpty
        # What the store holds under the repository: its repository.json (the listing sees objects), nothing under backups/.
        $objects = if ($Kind -eq 'S3') {
            Get-ChildItem (Join-Path $s3.DataDirectory "backups/$stopPrefix") -Recurse -File -Filter '*._S3rver_object' |
                ForEach-Object { [IO.Path]::GetRelativePath((Join-Path $s3.DataDirectory "backups/$stopPrefix"), $_.FullName) -replace '\._S3rver_object$' }
        }
        else { $azurite.ListBlobs($container, "$stopPrefix/") | ForEach-Object { $_.Substring($stopPrefix.Length + 1) } }
        $objects | Should -Be @('repository.json')
    }

    It 'refuses a directory dump with a clear error' {
        $err = { Invoke-PgBackup -Repository $repo -Database $db -Format Directory @server -ErrorAction Stop } | Should -Throw -PassThru
        $err.Exception.Message | Should -BeLike '*object store*-Format Custom*'
    }
}

# WAL archiving and PITR through the cmdlets a user runs, with the repository in the store: the cluster's
# archive_command (pgbt-wal) finds the store's endpoint and keys in the server's environment only; the restored
# server gets them from the options New-PgRepository registered in this session.
Describe 'Physical backups and PITR in <Name>' -ForEach @(
    @{ Name = 'S3 (s3rver)'; Kind = 'S3' }
    @{ Name = 'Azure Blob (Azurite)'; Kind = 'Azure' }
) {
    BeforeAll {
        $prefix = 'pitr-' + [guid]::NewGuid().ToString('N').Substring(0, 8)
        $environment = [System.Collections.Generic.Dictionary[string, string]]::new()
        if ($Kind -eq 'S3') {
            $script:pitrRepo = New-PgRepository "s3://backups/$prefix" -EndpointUrl $s3.Endpoint -AccessKeyId S3RVER -SecretAccessKey $secret
            $environment['AWS_ENDPOINT_URL_S3'] = $s3.Endpoint
            $environment['AWS_ACCESS_KEY_ID'] = [PgBackupTools.TestKit.S3rverEmulator]::AccessKeyId
            $environment['AWS_SECRET_ACCESS_KEY'] = [PgBackupTools.TestKit.S3rverEmulator]::SecretAccessKey
        }
        else {
            $pitrContainer = 'p' + [guid]::NewGuid().ToString('N').Substring(0, 8)
            $azurite.CreateContainer($pitrContainer)
            $script:pitrRepo = New-PgRepository "az://devstoreaccount1/$pitrContainer/$prefix" -EndpointUrl $azurite.BlobEndpoint -AccountKey $accountKey
            $environment['AZURE_STORAGE_BLOB_ENDPOINT'] = $azurite.BlobEndpoint
            $environment['AZURE_STORAGE_KEY'] = [PgBackupTools.TestKit.AzuriteEmulator]::AccountKey
        }
        $script:pitrCluster = [PgBackupTools.TestKit.PgTestCluster]::Start($null, $environment)
        $script:pitrServer = @{ HostName = $pitrCluster.Host; Port = $pitrCluster.Port; Username = 'postgres' }
        $script:pitrWork = New-TestDirectory
        $script:pitrRestored = Join-Path $pitrWork 'restored'
    }

    AfterAll {
        if ($script:pitrRestored -and (Test-Path (Join-Path $script:pitrRestored 'postmaster.pid'))) {
            [PgBackupTools.TestKit.PgTestCluster]::RunAsServerUser((Join-Path $pitrCluster.BinDirectory 'pg_ctl'), '-D', $script:pitrRestored, '-m', 'immediate', '-w', 'stop')
        }
        if ($script:pitrCluster) { $script:pitrCluster.Dispose() }
        Remove-Item -Recurse -Force $script:pitrWork -ErrorAction SilentlyContinue
    }

    It 'archives through pgbt-wal into the store, and Restore-PgDatabase -DataDirectory -TargetLsn recovers exactly the rows before the target' {
        $enabled = Enable-PgWalArchiving -Repository $pitrRepo @pitrServer -WarningVariable warnings -WarningAction SilentlyContinue
        ($warnings -join ' ') | Should -BeLike "*own environment*$($pitrRepo.Location)*Test-PgWalArchive*"
        $enabled.ArchiveCommand | Should -BeLike "*--repo '$($pitrRepo.Location)'*"
        $pitrCluster.Stop(); $pitrCluster.StartServer()
        $pitrCluster.Psql('SHOW archive_command') | Should -Not -Match 'S3RVER|Eby8vd'
        $null = $pitrCluster.Psql('CREATE TABLE t(id int); INSERT INTO t SELECT generate_series(1, 100)')

        $backup = Invoke-PgBackup -Repository $pitrRepo -Type Physical @pitrServer
        $backup.Type | Should -Be 'Physical'
        $backup.Repository | Should -Be $pitrRepo.Location

        $null = $pitrCluster.Psql('INSERT INTO t SELECT generate_series(101, 150)')
        $lsn = $pitrCluster.Psql('SELECT pg_current_wal_lsn()')
        $null = $pitrCluster.Psql('INSERT INTO t SELECT generate_series(151, 200)')
        $null = Switch-WalAndWait -Cluster $pitrCluster -TimeoutSeconds 90
        (Test-PgWalArchive -Repository $pitrRepo).Passed | Should -BeTrue

        $port = [PgBackupTools.TestKit.PgTestCluster]::FindFreePort()
        $result = Restore-PgDatabase -Repository $pitrRepo -DataDirectory $pitrRestored -TargetLsn $lsn -Port $port -Start -ArchiveMode Off -Confirm:$false
        $result.BackupId | Should -Be $backup.Id
        $result.RecoveryState | Should -Be 'promoted'
        $psql = Join-Path $pitrCluster.BinDirectory 'psql'
        & $psql -X -A -t -h 127.0.0.1 -p $port -U postgres -d postgres -c 'SELECT count(*), max(id) FROM t' | Should -Be '150|150'
    }

    It 'Test-PgBackup -Restore proves the physical backup from the store in a scratch server' {
        $test = Get-PgBackup -Repository $pitrRepo -Type Physical -Latest | Test-PgBackup -Restore -Query 'SELECT count(*) = 100 FROM t' @pitrServer
        $test.Passed | Should -BeTrue -Because ((($test.Checks | Where-Object { -not $_.Passed } | ForEach-Object { "$($_.Kind): $($_.Actual)" }) -join '; ') + $test.Error)
    }
}
