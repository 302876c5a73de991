# Volume snapshots from the module: the real AWSSDK.EC2 client against a loopback endpoint speaking EC2's Query/XML
# protocol, whose "volume" vol-data is the live data directory of a real cluster (copied at CreateSnapshot). Credentials
# come from the environment, as the SDK's default chain finds them, and must never show in output or the manifest.
BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-Module $ModulePath -Force
    $script:cluster = Start-TestCluster
    $script:server = @{ HostName = $cluster.Host; Port = $cluster.Port; Username = 'postgres' }
    $script:work = New-TestDirectory
    $script:repo = Join-Path $work 'repo'
    $script:snapshots = Join-Path $work 'snapshots'
    $script:restored = $null
    $script:ec2 = [PgBackupTools.TestKit.FakeEc2Endpoint]::new()
    $ec2.CopyOnSnapshot('vol-data', $cluster.DataDirectory, $snapshots)
    $script:aws = @{ Provider = 'Aws'; Region = 'eu-west-1'; Endpoint = $ec2.Endpoint }
    $script:savedEnv = @{ Id = $env:AWS_ACCESS_KEY_ID; Secret = $env:AWS_SECRET_ACCESS_KEY }
    $script:secret = 'pgbt-pester-secret-4b7e'
    $env:AWS_ACCESS_KEY_ID = 'AKIDPGBTPESTER'
    $env:AWS_SECRET_ACCESS_KEY = $secret

    $null = Enable-PgWalArchiving -Repository $repo @server -WarningAction SilentlyContinue
    [PgBackupTools.TestKit.PgTestCluster]::GiveToServerUser($work)
    $cluster.Stop(); $cluster.StartServer()
    $null = $cluster.Psql('CREATE TABLE t(id int); INSERT INTO t SELECT generate_series(1, 100)')
}

AfterAll {
    if ($script:restored -and (Test-Path (Join-Path $script:restored 'postmaster.pid'))) {
        [PgBackupTools.TestKit.PgTestCluster]::RunAsServerUser((Join-Path $cluster.BinDirectory 'pg_ctl'), '-D', $script:restored, '-m', 'immediate', '-w', 'stop')
    }
    $env:AWS_ACCESS_KEY_ID = $savedEnv.Id
    $env:AWS_SECRET_ACCESS_KEY = $savedEnv.Secret
    if ($script:ec2) { $script:ec2.Dispose() }
    if ($script:cluster) { $script:cluster.Dispose() }
    Remove-Item -Recurse -Force $script:work -ErrorAction SilentlyContinue
}

Describe 'New-PgVolumeSnapshot -Repository' {
    It 'takes a consistent Snapshot backup: tagged snapshots of every volume, a catalog entry with the label and WAL range, no secret anywhere' {
        $verbose = New-PgVolumeSnapshot @aws -VolumeId vol-data, vol-wal -Repository $repo @server -Tag @{ env = 'pester' } -Verbose 4>&1
        $snaps = @($verbose | Where-Object { $_ -is [PgBackupTools.PgVolumeSnapshot] })
        $messages = ($verbose | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }).Message -join "`n"
        $snaps.Count | Should -Be 2
        $snaps.VolumeId | Should -Be @('vol-data', 'vol-wal')
        $snaps | ForEach-Object { $_.SnapshotId | Should -Match '^snap-' ; $_.Completed | Should -BeTrue }
        $messages | Should -Match 'pg_backup_start'
        $messages | Should -Match 'pg_backup_stop'

        $backup = Get-PgBackup -Repository $repo -Type Snapshot
        @($backup).Count | Should -Be 1
        $backup.SnapshotProvider | Should -Be 'Aws'
        $backup.Snapshots.SnapshotId | Should -Be $snaps.SnapshotId
        $backup.BackupLabelFile | Should -Match "LABEL: pgbt $($backup.Id)"
        $backup.StartLsn | Should -Not -BeNullOrEmpty
        $backup.StopLsn | Should -Not -BeNullOrEmpty
        $snaps[0].BackupId | Should -Be $backup.Id
        ($ec2.Snapshots | Where-Object VolumeId -eq 'vol-data').Tags['env'] | Should -Be 'pester'

        $manifest = Get-Content -Raw (Join-Path $repo "backups/main/$($backup.Id)/manifest.json")
        foreach ($text in @($manifest, $messages)) {
            $text | Should -Not -Match $secret
            $text | Should -Not -Match 'AKIDPGBTPESTER'
        }
        $ec2.Requests | ForEach-Object { $_.Body | Should -Not -Match $secret }
    }

    It 'Test-PgBackup asks the provider for every snapshot of the backup, and fails when one is gone' {
        $backup = Get-PgBackup -Repository $repo -Type Snapshot -Latest
        $test = $backup | Test-PgBackup
        $test.Passed | Should -BeTrue
        @($test.Checks | Where-Object Kind -eq 'Snapshot').Count | Should -Be 2
        { $backup | Test-PgBackup -Restore -ErrorAction Stop } | Should -Throw '*Restore-PgVolumeSnapshot*'
    }

    It 'lists its snapshots, also for a Snapshot backup piped from Get-PgBackup' {
        $backup = Get-PgBackup -Repository $repo -Type Snapshot -Latest
        $listed = @(Get-PgVolumeSnapshot @aws)
        $listed.Count | Should -Be 2
        $listed[0] | Should -BeOfType ([PgBackupTools.PgVolumeSnapshot])
        @($backup | Get-PgVolumeSnapshot @aws).SnapshotId | Sort-Object | Should -Be ($backup.Snapshots.SnapshotId | Sort-Object)
        @(Get-PgVolumeSnapshot @aws -VolumeId vol-wal).Count | Should -Be 1
        ($listed | Format-Table | Out-String) | Should -Match 'snap-'
        ($listed[0] | Format-List | Out-String) | Should -Match 'pgbt-backup-id'
    }

    It 'abandons a set whose snapshot fails mid-way: the error names the volume, no snapshot and no backup are left' {
        $ec2.FailingVolumes.Add('vol-broken') | Out-Null
        $before = @($ec2.Snapshots).Count
        { New-PgVolumeSnapshot @aws -VolumeId vol-wal, vol-broken, vol-data -Repository $repo @server -ErrorAction Stop } | Should -Throw '*vol-broken*'
        @($ec2.Snapshots).Count | Should -Be $before
        @(Get-PgBackup -Repository $repo -Type Snapshot).Count | Should -Be 1
        $cluster.Psql("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_backup_start%' AND pid <> pg_backend_pid()") | Should -Be '0'
    }

    It 'warns that snapshots without -Repository are only crash-consistent' {
        $out = New-PgVolumeSnapshot @aws -VolumeId vol-other -WarningVariable warned -WarningAction SilentlyContinue
        $warned | Should -Match 'crash-consistent'
        $out.VolumeId | Should -Be 'vol-other'
        $out.BackupId | Should -Not -BeNullOrEmpty
        # A piped snapshot knows its region and endpoint: no -Region/-Endpoint needed.
        $out | Remove-PgVolumeSnapshot -Force
        @(Get-PgVolumeSnapshot @aws -VolumeId vol-other).Count | Should -Be 0
    }
}

Describe 'Restore-PgVolumeSnapshot and Restore-PgDatabase of a Snapshot backup' {
    It 'creates a volume per snapshot in the zone, and the restored data directory recovers every row' {
        $backup = Get-PgBackup -Repository $repo -Type Snapshot -Latest
        $volumes = @($backup | Restore-PgVolumeSnapshot -Zone eu-west-1a @aws)
        $volumes.Count | Should -Be 2
        $volumes | ForEach-Object { $_ | Should -BeOfType ([PgBackupTools.PgVolume]); $_.Zone | Should -Be 'eu-west-1a'; $_.State | Should -Be 'available' }
        $volumes.SnapshotId | Should -Be $backup.Snapshots.SnapshotId
        @($ec2.Calls('CreateVolume')) | ForEach-Object { $_.Parameters['ClientToken'] | Should -Match '^pgbt-' }

        $null = $cluster.Psql('INSERT INTO t SELECT generate_series(101, 150)')
        $null = Switch-WalAndWait -Cluster $cluster
        # "Attach and mount the volume": a copy of what the endpoint captured for vol-data.
        $script:restored = Join-Path $work 'restored'
        [PgBackupTools.TestKit.LiveDirectoryCopy]::Copy((Join-Path $snapshots ($backup.Snapshots | Where-Object VolumeId -eq 'vol-data').SnapshotId), $restored)
        $port = [PgBackupTools.TestKit.PgTestCluster]::FindFreePort()
        $result = $backup | Restore-PgDatabase -DataDirectory $restored -Port $port -Start -Force
        $result.Type | Should -Be 'Snapshot'
        $result.RecoveryState | Should -Be 'promoted'
        $cluster.Psql('SELECT count(*) FROM t') | Should -Be '150'
        $count = & (Join-Path $cluster.BinDirectory 'psql') -h 127.0.0.1 -p $port -U postgres -d postgres -Atc 'SELECT count(*) FROM t'
        $count | Should -Be '150'
    }

    It 'refuses a directory that is not from the backed-up cluster' {
        $backup = Get-PgBackup -Repository $repo -Type Snapshot -Latest
        $empty = Join-Path $work 'not-a-cluster'
        New-Item -ItemType Directory $empty | Out-Null
        { $backup | Restore-PgDatabase -DataDirectory $empty -Force -ErrorAction Stop } | Should -Throw '*not a PostgreSQL data directory*'
    }
}

Describe 'Remove-PgVolumeSnapshot -RetentionDays' {
    It 'removes whole sets older than the window, never the newest set, and -WhatIf removes nothing' {
        $old = (Get-Date).ToUniversalTime().AddDays(-200)
        foreach ($v in 'vol-data', 'vol-wal') {
            $ec2.AddSnapshot("snap-old-$v", $v, $old, @{ 'pgbt-backup-id' = '20250101T000000Z'; 'pgbt-stanza' = 'main' }, 'completed')
        }
        $count = @($ec2.Snapshots).Count
        Remove-PgVolumeSnapshot @aws -RetentionDays 90 -WhatIf
        @($ec2.Snapshots).Count | Should -Be $count

        $removed = @(Remove-PgVolumeSnapshot @aws -RetentionDays 90 -Repository $repo -Force -PassThru)
        $removed.SnapshotId | Sort-Object | Should -Be @('snap-old-vol-data', 'snap-old-vol-wal')
        @(Get-PgBackup -Repository $repo -Type Snapshot).Count | Should -Be 1

        # A zero-day window would take everything: the newest set stays.
        Remove-PgVolumeSnapshot @aws -RetentionDays 0 -Repository $repo -Force
        @(Get-PgVolumeSnapshot @aws).Count | Should -Be 2
        @(Get-PgBackup -Repository $repo -Type Snapshot).Count | Should -Be 1

        # Deleted behind the module's back: the catalog entry no longer proves out.
        $backup = Get-PgBackup -Repository $repo -Type Snapshot -Latest
        $backup.Snapshots[1] | Remove-PgVolumeSnapshot -Force
        $test = $backup | Test-PgBackup -ErrorAction SilentlyContinue -ErrorVariable testFailed
        $test.Passed | Should -BeFalse
        $test.Error | Should -Match "$($backup.Snapshots[1].SnapshotId) .* is missing"
        $testFailed[0].FullyQualifiedErrorId | Should -Match '^BackupTestFailed'
        $testFailed[0].Exception.Message | Should -Match 'is missing'
    }
}

Describe 'Remove-PgBackup of Snapshot backups' {
    BeforeAll {
        # The earlier Snapshot backup (one of its snapshots already deleted behind the module's back) and a newer one.
        $script:older = Get-PgBackup -Repository $repo -Type Snapshot -Latest
        $script:newer = Get-PgBackup -Repository $repo -Id (New-PgVolumeSnapshot @aws -VolumeId vol-data, vol-wal -Repository $repo @server)[0].BackupId
    }

    It 'lists a Snapshot backup in the table with its provider (Aws is the enum''s 0, which if() takes for false)' {
        ($newer | Format-Table | Out-String -Width 300) | Should -Match ("(?m)^{0} +Snapshot .* Aws snapshots\s*$" -f $newer.Id)
    }

    It '-WhatIf names the backup''s snapshots and sends the provider nothing' {
        $requests = @($ec2.Requests).Count
        # ShouldProcess writes "What if:" to the host, so read it from a child pwsh's output as a user would see it.
        $whatIf = & (Join-Path $PSHOME 'pwsh') -NoProfile -NonInteractive -Command "Import-Module '$ModulePath'; Remove-PgBackup -Repository '$repo' -KeepLast 1 -WhatIf" | Out-String
        $whatIf | Should -Match "What if: .*$($older.Id)"
        foreach ($s in $older.Snapshots) { $whatIf | Should -Match "$($s.SnapshotId) of $($s.VolumeId)" }
        $whatIf | Should -Not -Match $newer.Id
        @($ec2.Requests).Count | Should -Be $requests
        @(Get-PgBackup -Repository $repo -Type Snapshot).Id | Should -Contain $older.Id
    }

    It 'keeps the catalog entry when the provider refuses a delete, and the error names the snapshot, volume, provider and what to do' {
        $refused = $older.Snapshots | Where-Object { $ec2.Snapshots.Id -contains $_.SnapshotId } | Select-Object -First 1
        $ec2.UndeletableSnapshots.Add($refused.SnapshotId) | Out-Null
        try {
            $older | Remove-PgBackup -Confirm:$false -ErrorAction SilentlyContinue -ErrorVariable failed
        }
        finally { $ec2.UndeletableSnapshots.Clear() }
        $failed.Count | Should -Be 1
        $failed[0].CategoryInfo.Category | Should -Be 'PermissionDenied'
        $failed[0].Exception.Message | Should -Match "snapshot $($refused.SnapshotId) of volume $($refused.VolumeId) \(Aws, AWS eu-west-1"
        $failed[0].Exception.Message | Should -Match "$($older.Id) stays in the catalog"
        $failed[0].Exception.Message | Should -Match 'ec2:DeleteSnapshot.*run the removal again'
        $failed[0].Exception.Message | Should -Not -Match $secret
        @(Get-PgBackup -Repository $repo -Type Snapshot).Id | Should -Contain $older.Id
        $ec2.Snapshots.Id | Should -Contain $refused.SnapshotId
    }

    It 'a retention run deletes the older backup''s snapshots at the provider (one already gone counts as deleted), then its entry; never the newest' {
        $mark = @($ec2.Requests).Count
        $removed = @(Remove-PgBackup -Repository $repo -KeepLast 1 -Force -PassThru | Where-Object { $_ -is [PgBackupTools.PgBackup] })
        $removed.Id | Should -Be @($older.Id)
        $deletes = @($ec2.Requests | Select-Object -Skip $mark | Where-Object Action -eq 'DeleteSnapshot')
        $deletes.Parameters.SnapshotId | Should -Be @($older.Snapshots.SnapshotId)
        foreach ($s in $older.Snapshots) { $ec2.Snapshots.Id | Should -Not -Contain $s.SnapshotId }
        @(Get-PgBackup -Repository $repo -Type Snapshot).Id | Should -Be @($newer.Id)

        # The newest backup of its group stays unless it is named with -Force, and then no snapshot is touched.
        $newer | Remove-PgBackup -Confirm:$false -ErrorAction SilentlyContinue -ErrorVariable kept
        $kept[0].FullyQualifiedErrorId | Should -Match '^NewestBackupKept'
        @($ec2.Requests | Select-Object -Skip $mark | Where-Object Action -eq 'DeleteSnapshot').Count | Should -Be $deletes.Count
        foreach ($s in $newer.Snapshots) { $ec2.Snapshots.Id | Should -Contain $s.SnapshotId }
    }
}

Describe 'GCP persistent disks through application default credentials' {
    BeforeAll {
        $script:gcp = [PgBackupTools.TestKit.FakeGcpComputeEndpoint]::new()
        $rsa = [System.Security.Cryptography.RSA]::Create(2048)
        $script:keyFile = Join-Path $work 'gcp-key.json'
        @{
            type = 'service_account'; project_id = 'pgbt-test'; private_key_id = 'k1'; private_key = $rsa.ExportPkcs8PrivateKeyPem()
            client_email = 'pgbt@pgbt-test.iam.gserviceaccount.com'; client_id = '1'; token_uri = $gcp.TokenUri
        } | ConvertTo-Json | Set-Content $keyFile
        $script:savedGoogle = $env:GOOGLE_APPLICATION_CREDENTIALS
        $env:GOOGLE_APPLICATION_CREDENTIALS = $keyFile
        $script:gcpTarget = @{ Provider = 'Gcp'; Project = 'pgbt-test'; Endpoint = $gcp.ComputeBase }
    }
    AfterAll {
        $env:GOOGLE_APPLICATION_CREDENTIALS = $savedGoogle
        if ($script:gcp) { $script:gcp.Dispose() }
    }

    It 'takes a consistent Snapshot backup of two disks, lists it by project, and removes it with its catalog entry' {
        $snaps = @(New-PgVolumeSnapshot @gcpTarget -Zone europe-west1-b -Disk pg-data, pg-wal -Repository $repo @server)
        $snaps.Count | Should -Be 2
        $snaps.VolumeId | Should -Be @('pg-data', 'pg-wal')
        $snaps | ForEach-Object { $_.Provider | Should -Be 'Gcp'; $_.State | Should -Be 'READY' }
        @($gcp.Requests | Where-Object Path -eq '/token').Count | Should -BeGreaterThan 0
        $backup = Get-PgBackup -Repository $repo -Type Snapshot -Id $snaps[0].BackupId
        $backup.SnapshotProvider | Should -Be 'Gcp'
        $backup.StopLsn | Should -Not -BeNullOrEmpty

        @(Get-PgVolumeSnapshot @gcpTarget -BackupId $backup.Id).Count | Should -Be 2
        # Piped snapshots carry their provider, project and endpoint.
        Get-PgVolumeSnapshot @gcpTarget -BackupId $backup.Id | Remove-PgVolumeSnapshot -Repository $repo -Force
        @($gcp.Snapshots).Count | Should -Be 0
        @(Get-PgBackup -Repository $repo -Type Snapshot -Id $backup.Id -ErrorAction SilentlyContinue).Count | Should -Be 0
    }

    It 'Remove-PgBackup deletes a GCP Snapshot backup''s snapshots in the project its manifest records, then the entry' {
        $snaps = @(New-PgVolumeSnapshot @gcpTarget -Zone europe-west1-b -Disk pg-data, pg-wal -Repository $repo @server)
        $backup = Get-PgBackup -Repository $repo -Type Snapshot -Id $snaps[0].BackupId
        $mark = @($gcp.Requests).Count
        # No -Project, -Endpoint or -Zone: Remove-PgBackup has none; the manifest says where the snapshots are.
        $backup | Remove-PgBackup -Force
        $deletes = @($gcp.Requests | Select-Object -Skip $mark | Where-Object Method -eq 'DELETE')
        $deletes.Path | Should -Be @($snaps.SnapshotId | ForEach-Object { "/compute/v1/projects/pgbt-test/global/snapshots/$_" })
        @($gcp.Snapshots).Count | Should -Be 0
        @(Get-PgBackup -Repository $repo -Type Snapshot -Id $backup.Id -ErrorAction SilentlyContinue).Count | Should -Be 0
    }
}

Describe 'Azure managed disks through a managed identity (IDENTITY_ENDPOINT, as Azure Automation gives a runbook)' {
    BeforeAll {
        # The process environment Azure Automation (and App Service, Functions) gives: an http loopback token endpoint
        # and its secret header. DefaultAzureCredential's ManagedIdentityCredential finds them; no other Azure credential
        # may be in the way.
        $script:arm = [PgBackupTools.TestKit.FakeArmEndpoint]::new()
        $arm.RequireIssuedToken = $true
        $script:sub = '00000000-0000-0000-0000-0000000000aa'
        $script:dataDisk = $arm.AddDisk($sub, 'rg-db', 'pg-data', 'westeurope')
        $script:walDisk = $arm.AddDisk($sub, 'rg-db', 'pg-wal', 'westeurope')
        $script:azureNames = 'IDENTITY_ENDPOINT', 'IDENTITY_HEADER', 'IDENTITY_SERVER_THUMBPRINT', 'IMDS_ENDPOINT', 'MSI_ENDPOINT', 'MSI_SECRET',
            'AZURE_CLIENT_ID', 'AZURE_TENANT_ID', 'AZURE_CLIENT_SECRET', 'AZURE_CLIENT_CERTIFICATE_PATH', 'AZURE_FEDERATED_TOKEN_FILE', 'AZURE_SUBSCRIPTION_ID'
        $script:savedAzure = @{}
        foreach ($name in $azureNames) {
            $savedAzure[$name] = [Environment]::GetEnvironmentVariable($name)
            [Environment]::SetEnvironmentVariable($name, $null)
        }
        $env:IDENTITY_ENDPOINT = $arm.IdentityEndpoint
        $env:IDENTITY_HEADER = $arm.IdentityHeader
        $script:azure = @{ Provider = 'Azure'; Endpoint = $arm.Endpoint; SubscriptionId = $sub }
        $script:azureOutput = [System.Collections.Generic.List[string]]::new()
        $script:azureBackup = $null
    }
    AfterAll {
        foreach ($name in $azureNames) { [Environment]::SetEnvironmentVariable($name, $savedAzure[$name]) }
        if ($script:arm) { $script:arm.Dispose() }
    }

    It 'an identity endpoint that refuses the secret fails with an error that says what to do, and no ARM call is made' {
        $wrong = 'pgbt-wrong-identity-header-' + [guid]::NewGuid().ToString('N')
        $env:IDENTITY_HEADER = $wrong
        try {
            $clock = [Diagnostics.Stopwatch]::StartNew()
            $failure = $null
            try { Get-PgVolumeSnapshot @azure -ErrorAction Stop } catch { $failure = $_ }
            Write-Host "token failure reported after $([int]$clock.Elapsed.TotalSeconds) s"
        }
        finally { $env:IDENTITY_HEADER = $arm.IdentityHeader }
        $failure | Should -Not -BeNullOrEmpty
        $failure.FullyQualifiedErrorId | Should -Match '^PgBackupException,PermissionDenied'
        $failure.Exception.Message | Should -Match 'Could not get an Azure token'
        $failure.Exception.Message | Should -Match 'managed identity'
        $azureOutput.Add(($failure | Out-String -Width 400) + $failure.Exception.ToString())
        $failure.Exception.ToString().Contains($wrong) | Should -BeFalse
        @($arm.TokenRequests).Count | Should -BeGreaterThan 0
        $arm.TokenRequests | ForEach-Object { $_.Headers['X-IDENTITY-HEADER'] | Should -Be $wrong }
        @($arm.ArmRequests).Count | Should -Be 0
    }

    It 'New-PgVolumeSnapshot takes a consistent Snapshot backup of two disks with a token from the identity endpoint' {
        $all = New-PgVolumeSnapshot @azure -DiskId $dataDisk, $walDisk -Repository $repo @server -Tag @{ env = 'pester' } -Verbose *>&1
        $azureOutput.Add(($all | Out-String -Width 400))
        $snaps = @($all | Where-Object { $_ -is [PgBackupTools.PgVolumeSnapshot] })
        $messages = ($all | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }).Message -join "`n"
        $snaps.Count | Should -Be 2
        $snaps.VolumeId | Should -Be @($dataDisk, $walDisk)
        $snaps | ForEach-Object { $_.Provider | Should -Be 'Azure'; $_.Completed | Should -BeTrue }
        $messages | Should -Match 'pg_backup_start'
        $messages | Should -Match 'pg_backup_stop'
        $script:azureBackup = Get-PgBackup -Repository $repo -Type Snapshot -Id $snaps[0].BackupId
        $azureBackup.SnapshotProvider | Should -Be 'Azure'
        $azureBackup.StopLsn | Should -Not -BeNullOrEmpty
        $azureBackup.Snapshots.SnapshotId | Should -Be $snaps.SnapshotId
        $azureOutput.Add((Get-Content -Raw (Join-Path $repo "backups/main/$($azureBackup.Id)/manifest.json")))

        # The token: asked for at the identity endpoint with its secret header and API version, before any ARM call.
        $tokens = @($arm.TokenRequests | Where-Object { $_.Headers['X-IDENTITY-HEADER'] -eq $arm.IdentityHeader })
        $tokens.Count | Should -BeGreaterThan 0
        $tokens | ForEach-Object {
            $_.Headers['X-IDENTITY-HEADER'] | Should -Be $arm.IdentityHeader
            $_.Parameters['api-version'] | Should -Be '2019-08-01'
            $_.Parameters['resource'].TrimEnd('/') | Should -Be $arm.Endpoint
        }
        $requests = @($arm.Requests)
        $firstArm = @($arm.ArmRequests)[0]
        [array]::IndexOf($requests, $tokens[0]) | Should -BeLessThan ([array]::IndexOf($requests, $firstArm))
        # Every ARM call carries it as a bearer token (the fake refuses any other), and never the identity secret.
        $arm.ArmRequests | ForEach-Object {
            $_.Authorization | Should -Be "Bearer $($arm.IssuedToken)"
            $_.Headers.ContainsKey('X-IDENTITY-HEADER') | Should -BeFalse
        }
        # Order: read a disk, PUT its snapshot, then the next disk; each set member named after the set.
        $puts = @($arm.ArmRequests | Where-Object Method -eq 'PUT')
        $puts.Path | Should -Be @($snaps.SnapshotId)
        $puts[0].Path | Should -Match "/snapshots/pgbt-$($azureBackup.Id)-1$"
        $firstPut = [array]::IndexOf($requests, $puts[0])
        $diskRead = @($requests | Where-Object { $_.Method -eq 'GET' -and $_.Path -eq $dataDisk })[0]
        [array]::IndexOf($requests, $diskRead) | Should -BeLessThan $firstPut
        $tags = ($arm.Snapshots | ForEach-Object { $_.ToJsonString() | ConvertFrom-Json } | Where-Object id -eq $snaps[0].SnapshotId).tags
        $tags.'pgbt-backup-id' | Should -Be $azureBackup.Id
        $tags.'pgbt-stanza' | Should -Be 'main'
        $tags.'pgbt-set-member' | Should -Be '1-of-2'
        $tags.env | Should -Be 'pester'
    }

    It 'Get-PgVolumeSnapshot lists the set in the subscription' {
        $listed = @(Get-PgVolumeSnapshot @azure -BackupId $azureBackup.Id)
        $azureOutput.Add(($listed | Format-List | Out-String -Width 400))
        $listed.Count | Should -Be 2
        $listed.SnapshotId | Sort-Object | Should -Be ($azureBackup.Snapshots.SnapshotId | Sort-Object)
        $list = @($arm.ArmRequests)[-1]
        $list.Path | Should -Be "/subscriptions/$sub/providers/Microsoft.Compute/snapshots"
        $list.Authorization | Should -Be "Bearer $($arm.IssuedToken)"
    }

    It 'Restore-PgVolumeSnapshot creates a disk from each snapshot of the backup' {
        $volumes = @($azureBackup | Restore-PgVolumeSnapshot @azure -Zone westeurope -Tag @{ purpose = 'drill' } -Confirm:$false)
        $azureOutput.Add(($volumes | Format-List | Out-String -Width 400))
        $volumes.Count | Should -Be 2
        $volumes.SnapshotId | Should -Be $azureBackup.Snapshots.SnapshotId
        $volumes | ForEach-Object { $_.Provider | Should -Be 'Azure'; $_.State | Should -Be 'Succeeded'; $_.Zone | Should -Be 'westeurope' }
        $diskPuts = @($arm.ArmRequests | Where-Object { $_.Method -eq 'PUT' -and $_.Path -match '/disks/' })
        $diskPuts.Count | Should -Be 2
        $body = $diskPuts[0].Body | ConvertFrom-Json
        $body.properties.creationData.sourceResourceId | Should -Be $azureBackup.Snapshots[0].SnapshotId
        $body.tags.'pgbt-backup-id' | Should -Be $azureBackup.Id
        $body.tags.purpose | Should -Be 'drill'
    }

    It 'Remove-PgBackup deletes the snapshots through the identity its manifest names, then the catalog entry' {
        $mark = @($arm.Requests).Count
        $all = $azureBackup | Remove-PgBackup -Force -Verbose *>&1
        $azureOutput.Add(($all | Out-String -Width 400))
        $deletes = @($arm.Requests | Select-Object -Skip $mark | Where-Object Method -eq 'DELETE')
        $deletes.Path | Should -Be @($azureBackup.Snapshots.SnapshotId)
        $deletes | ForEach-Object { $_.Authorization | Should -Be "Bearer $($arm.IssuedToken)" }
        @($arm.Snapshots).Count | Should -Be 0
        @(Get-PgBackup -Repository $repo -Type Snapshot -Id $azureBackup.Id -ErrorAction SilentlyContinue).Count | Should -Be 0
    }

    It 'Remove-PgVolumeSnapshot deletes a crash-consistent Azure set piped to it' {
        $set = @(New-PgVolumeSnapshot @azure -DiskId $walDisk -WarningAction SilentlyContinue)
        @($arm.Snapshots).Count | Should -Be 1
        $mark = @($arm.Requests).Count
        $all = $set | Remove-PgVolumeSnapshot -Force -Verbose *>&1
        $azureOutput.Add(($all | Out-String -Width 400))
        @($arm.Requests | Select-Object -Skip $mark | Where-Object Method -eq 'DELETE').Path | Should -Be @($set.SnapshotId)
        @($arm.Snapshots).Count | Should -Be 0
    }

    It 'never lets the token or the identity secret into output, verbose messages, the manifest or a request body' {
        $manifests = Get-ChildItem (Join-Path $repo 'backups') -Recurse -Filter manifest.json | Get-Content -Raw
        foreach ($text in @($azureOutput) + @($manifests) + @($arm.Requests.Body)) {
            if (-not $text) { continue }
            $text.Contains($arm.IssuedToken) | Should -BeFalse
            $text.Contains($arm.IdentityHeader) | Should -BeFalse
        }
        $azureOutput.Count | Should -Be 7
    }
}
