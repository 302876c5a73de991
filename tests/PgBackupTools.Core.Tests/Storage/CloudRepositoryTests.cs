using PgBackupTools.Core.Backup;
using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Restore;
using PgBackupTools.Core.Storage;
using PgBackupTools.Core.Verify;
using PgBackupTools.TestKit;

namespace PgBackupTools.Core.Tests.Storage;

/// <summary>
/// A repository in an object store, end to end: a real PostgreSQL, pg_dump streamed into the emulator over HTTP,
/// listed again from the manifests, and proven by a restore into a scratch database.
/// </summary>
public abstract class CloudRepositoryTests(ClusterFixture cluster)
{
    /// <summary>Options for a fresh repository; <paramref name="endpoint"/> and <paramref name="secret"/> override the emulator's.</summary>
    protected abstract PgRepository Options(string? endpoint = null, string? secret = null);
    protected abstract string StoreName { get; }
    protected abstract StoreEmulator StartPrivateEmulator(out PgRepository options);
    protected virtual IReadOnlyList<string> PendingUploads(PgRepository options) => [];
    /// <summary>False for an emulator that loses what it stored when it is killed (not a property of the real store).</summary>
    protected virtual bool KeepsDataWhenKilled => true;
    protected virtual void EmulatorCameBack(StoreEmulator emulator) { }

    private static async Task<BackupRepository> OpenAsync(PgRepository options, bool create = true) =>
        await BackupRepository.OpenAsync(ObjectStoreFactory.Register(options), create, default);

    private Task<PgBackup> BackupAsync(BackupRepository repository, string db, DumpFormat format, CompressionKind compression = CompressionKind.Gzip, OperationContext? context = null) =>
        LogicalBackupJob.RunAsync(repository, cluster.Connection(), new LogicalBackupOptions { Database = db, Format = format, Compression = compression }, context ?? new OperationContext());

    [Theory]
    [InlineData(DumpFormat.Custom)]
    [InlineData(DumpFormat.Plain)]
    public async Task A_backup_in_the_store_is_listed_again_and_proven_by_a_test_restore(DumpFormat format)
    {
        var db = cluster.CreateAuditDatabase(rows: 500);
        var options = Options();
        using var repository = await OpenAsync(options);
        var backup = await BackupAsync(repository, db, format);
        Assert.Equal(options.Location, backup.Repository);

        using var reopened = await BackupRepository.OpenAsync(backup.Repository, create: false, default); // as a piped PgBackup would
        var listed = Assert.Single(await reopened.ListBackupsAsync(null, new OperationContext()));
        Assert.Equal(backup.Id, listed.Id);
        Assert.Equal(backup.Files.Single().StoredSha256, listed.Files.Single().StoredSha256);

        var result = await BackupTestJob.RunAsync(reopened, listed, cluster.Connection(), true, [], new OperationContext());
        Assert.True(result.Passed, result.Error);
        Assert.True(result.Restored);
        Assert.Contains(result.Checks, c => c.Kind == "Checksum" && c.Passed);
        Assert.Equal(500, listed.TableRowCounts["public.audit_events"]);
    }

    [Fact]
    public async Task An_object_corrupted_in_the_store_is_caught_by_checksum_on_restore_and_by_the_test()
    {
        var db = cluster.CreateAuditDatabase(rows: 200);
        var options = Options();
        using var repository = await OpenAsync(options);
        var backup = await BackupAsync(repository, db, DumpFormat.Custom);
        string key = BackupRepository.BackupFileKey(backup.Stanza, backup.Id, "database.dump");
        byte[] bytes;
        await using (var read = await repository.Store.OpenReadAsync(key, default))
        using (var m = new MemoryStream()) { await read.CopyToAsync(m); bytes = m.ToArray(); }
        bytes[bytes.Length / 2] ^= 0x40; // one flipped bit, same size: only a checksum sees it
        await using (var write = await repository.Store.CreateAsync(key, overwrite: true, default))
        {
            await write.WriteAsync(bytes);
            await write.CommitAsync(default);
        }

        var test = await BackupTestJob.RunAsync(repository, backup, cluster.Connection(), true, [], new OperationContext());
        Assert.False(test.Passed);
        Assert.Contains("database.dump", test.Error);
        var e = await Assert.ThrowsAsync<ChecksumMismatchException>(() => LogicalRestoreJob.RunAsync(repository, backup, cluster.Connection(),
            new LogicalRestoreOptions { TargetDatabase = db + "_bad" }, new OperationContext()));
        Assert.Contains("database.dump", e.File);
    }

    [Fact]
    public async Task A_store_that_does_not_answer_is_a_clear_error_that_names_the_store()
    {
        var options = Options(endpoint: $"http://127.0.0.1:{PgTestCluster.FindFreePort()}" + (StoreName == "Azure Blob" ? "/devstoreaccount1" : ""));
        var e = await Assert.ThrowsAsync<PgBackupException>(() => OpenAsync(options));
        Assert.Equal(FailureKind.ConnectionFailed, e.Kind);
        Assert.Contains(StoreName, e.Message);
        Assert.Contains(options.Location, e.Message);
        Assert.Contains("cannot be reached", e.Message);
    }

    [Fact]
    public async Task A_store_that_goes_down_fails_the_backup_with_a_clear_error_and_no_manifest()
    {
        var db = cluster.CreateAuditDatabase(rows: 100);
        var emulator = StartPrivateEmulator(out var options);
        try
        {
            using var repository = await OpenAsync(options);
            emulator.Stop();
            var e = await Assert.ThrowsAsync<PgBackupException>(() => BackupAsync(repository, db, DumpFormat.Custom));
            Assert.Equal(FailureKind.ConnectionFailed, e.Kind);
            Assert.Contains(StoreName, e.Message);
            Assert.Contains(options.Location, e.Message);
            Assert.DoesNotContain("manifest.json", Directory.GetFiles(emulator.DataDirectory, "*", SearchOption.AllDirectories).Select(Path.GetFileName).OfType<string>());
        }
        finally
        {
            emulator.Dispose();
        }
    }

    [Fact]
    public async Task A_store_killed_mid_upload_fails_the_backup_and_once_it_is_back_lists_nothing_and_takes_the_next_backup()
    {
        var db = cluster.CreateAuditDatabase(rows: 60000);
        var emulator = StartPrivateEmulator(out var options);
        options.PartSizeBytes = 1 << 20; // several parts are up when the store dies
        try
        {
            using (var repository = await OpenAsync(options))
            {
                var killer = new StopAfterBytes(emulator, 4 << 20);
                var e = await Assert.ThrowsAsync<PgBackupException>(() =>
                    BackupAsync(repository, db, DumpFormat.Custom, CompressionKind.None, new OperationContext { Progress = killer }));
                Assert.True(killer.Stopped, "the store must die while the backup runs");
                Assert.Equal(FailureKind.ConnectionFailed, e.Kind);
                Assert.Contains(options.Location, e.Message);
            }

            emulator.Restart();
            EmulatorCameBack(emulator);
            using var reopened = await OpenAsync(options, create: !KeepsDataWhenKilled);
            Assert.Empty(await reopened.ListBackupsAsync(null, new OperationContext()));
            var next = await BackupAsync(reopened, db, DumpFormat.Custom);
            Assert.Equal([next.Id], (await reopened.ListBackupsAsync(null, new OperationContext())).Select(b => b.Id));
            Assert.True((await BackupTestJob.RunAsync(reopened, next, cluster.Connection(), restore: false, [], new OperationContext())).Passed);
        }
        finally
        {
            emulator.Dispose();
        }
    }

    /// <summary>Kills the store from the backup's own progress report, once that many bytes were dumped: a deterministic "mid-way".</summary>
    private sealed class StopAfterBytes(StoreEmulator emulator, long bytes) : IProgress<TransferProgress>
    {
        public bool Stopped { get; private set; }

        public void Report(TransferProgress value)
        {
            if (Stopped || value.Bytes < bytes) return;
            Stopped = true;
            emulator.Stop();
        }
    }

    [Fact]
    public async Task Wrong_credentials_are_a_clear_permission_error_and_nothing_is_written()
    {
        var options = Options(secret: "wrong-" + Guid.NewGuid().ToString("N"));
        var e = await Assert.ThrowsAsync<PgBackupException>(() => OpenAsync(options));
        Assert.Equal(FailureKind.PermissionDenied, e.Kind);
        Assert.Contains(StoreName, e.Message);
        Assert.Contains("wrong", e.Message);
        Assert.DoesNotContain("wrong-", e.ToString());
        var good = Options();
        good.Location = options.Location;
        ObjectStoreFactory.Register(good);
        var store = ObjectStoreFactory.Create(good.Location, good);
        await foreach (var _ in store.ListAsync("", default)) Assert.Fail("nothing may be written with wrong credentials");
    }

    [Fact]
    public async Task Directory_dumps_are_refused_on_an_object_store_before_anything_is_written()
    {
        var db = cluster.CreateAuditDatabase(rows: 10);
        var options = Options();
        using var repository = await OpenAsync(options);
        var e = await Assert.ThrowsAsync<PgBackupException>(() => BackupAsync(repository, db, DumpFormat.Directory));
        Assert.Contains("-Format Custom", e.Message);
        await foreach (var o in repository.Store.ListAsync("backups/", default)) Assert.Fail($"{o.Key} was written");
    }

    [Fact]
    public async Task A_cancelled_backup_aborts_its_upload_and_leaves_no_backup()
    {
        var db = "big_" + Guid.NewGuid().ToString("N")[..8];
        cluster.Cluster.CreateDatabase(db);
        cluster.Cluster.Psql("CREATE TABLE t AS SELECT g, md5(g::text) || repeat('x', 200) AS v FROM generate_series(1, 60000) g;", db);
        var options = Options();
        options.PartSizeBytes = 5 << 20;
        using var repository = await OpenAsync(options);
        using var cts = new CancellationTokenSource();
        var context = new OperationContext
        {
            CancellationToken = cts.Token,
            Progress = new SyncProgress(p => { if (p.Bytes > 7 << 20) cts.Cancel(); }),
        };
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => BackupAsync(repository, db, DumpFormat.Plain, CompressionKind.None, context));
        Assert.True(cts.IsCancellationRequested);
        Assert.Empty(await repository.ListBackupsAsync(null, new OperationContext()));
        await foreach (var o in repository.Store.ListAsync("backups/", default)) Assert.Fail($"{o.Key} was left behind");
        Assert.Empty(PendingUploads(options));
    }

    private sealed class SyncProgress(Action<TransferProgress> report) : IProgress<TransferProgress>
    {
        public void Report(TransferProgress value) => report(value);
    }
}

[Collection("cluster")]
public sealed class S3CloudRepositoryTests(ClusterFixture cluster, S3rverFixture s3) : CloudRepositoryTests(cluster), IClassFixture<S3rverFixture>
{
    protected override string StoreName => "S3";
    // s3rver checks the access key id but not V4 signatures, so a wrong secret would pass there: the wrong credential
    // here is the key id (a real S3 rejects both with the same PermissionDenied mapping: SignatureDoesNotMatch).
    protected override PgRepository Options(string? endpoint = null, string? secret = null)
    {
        var options = s3.Options(endpoint: endpoint, secret: secret ?? S3rverEmulator.SecretAccessKey);
        if (secret is not null) options.AccessKeyId = "WRONGKEY";
        return options;
    }
    protected override IReadOnlyList<string> PendingUploads(PgRepository options) => S3WireRecorder.Instance.Pending(options.Location["s3://".Length..] + "/");

    protected override StoreEmulator StartPrivateEmulator(out PgRepository options)
    {
        var emulator = S3rverEmulator.Start(S3rverFixture.Bucket);
        options = s3.Options(endpoint: emulator.Endpoint);
        return emulator;
    }
}

[Collection("cluster")]
public sealed class AzureCloudRepositoryTests(ClusterFixture cluster, AzuriteFixture azure) : CloudRepositoryTests(cluster), IClassFixture<AzuriteFixture>
{
    protected override string StoreName => "Azure Blob";
    protected override PgRepository Options(string? endpoint = null, string? secret = null) =>
        azure.Options(endpoint: endpoint, key: secret is null ? AzuriteEmulator.AccountKey : Convert.ToBase64String(System.Text.Encoding.ASCII.GetBytes(secret)));

    // Azurite keeps its blob index in memory and saves it now and then: killed, it forgets what it held.
    protected override bool KeepsDataWhenKilled => false;
    protected override void EmulatorCameBack(StoreEmulator emulator) => ((AzuriteEmulator)emulator).CreateContainer(AzuriteFixture.ContainerName);

    protected override StoreEmulator StartPrivateEmulator(out PgRepository options)
    {
        var emulator = AzuriteEmulator.Start();
        new Azure.Storage.Blobs.BlobContainerClient(emulator.ConnectionString, AzuriteFixture.ContainerName).CreateIfNotExists();
        options = azure.Options(endpoint: emulator.BlobEndpoint);
        return emulator;
    }
}
