using System.Diagnostics;
using System.Net;
using Npgsql;
using PgBackupTools.Core.Backup;
using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Postgres;
using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Restore;
using PgBackupTools.Core.Storage;
using PgBackupTools.Core.Tests.Wal;
using PgBackupTools.Core.Verify;
using PgBackupTools.Core.Wal;
using PgBackupTools.TestKit;

namespace PgBackupTools.Core.Tests.Storage;

/// <summary>
/// WAL archiving and PITR through an object store, as PostgreSQL does it: pgbt-wal (the Native AOT build from
/// out/PgBackupTools/bin when the module was built, as users run it) is archive_command and restore_command, with
/// the repository's location on its command line and its endpoint and credentials only in the server's environment.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")] // runuser, chown: the test clusters are Linux-only
public abstract class CloudWalArchivingTests(ClusterFixture fixture) : IDisposable
{
    private readonly TempDirectory _temp = new();

    protected abstract PgRepository Options();
    protected abstract string StoreName { get; }
    /// <summary>The environment with the credentials replaced by wrong ones.</summary>
    protected abstract Dictionary<string, string> WithWrongCredentials(IReadOnlyDictionary<string, string> environment);
    /// <summary>The environment with no credential at all (and no credential file or instance metadata to fall back on).</summary>
    protected abstract Dictionary<string, string> WithoutCredentials(IReadOnlyDictionary<string, string> environment);
    /// <summary>The storage class (S3) or access tier (Azure) the store reports for an object, and the one the options ask for.</summary>
    protected abstract Task<(string? Stored, string? Wanted)> StorageClassAsync(PgRepository options, string key);
    /// <summary>The environment pointing at a port nothing listens on.</summary>
    protected abstract Dictionary<string, string> WithDeadEndpoint(IReadOnlyDictionary<string, string> environment);

    /// <summary>The AOT pgbt-wal of the built module if there is one (build.ps1 Test builds it first), else the one beside the tests.</summary>
    public static string EntryPoint
    {
        get
        {
            if (Environment.GetEnvironmentVariable("PGBT_WAL_ENTRYPOINT") is { Length: > 0 } env) return env;
            string aot = Path.Combine(ClusterFixture.RepoRoot, "out", "PgBackupTools", "bin", WalCommands.EntryPointFileName);
            return File.Exists(aot) ? aot : WalTestSegments.EntryPoint;
        }
    }

    /// <summary>Runs pgbt-wal with exactly <paramref name="environment"/> for the stores (no AWS_/AZURE_ variable of ours leaks in).</summary>
    public static (int Code, string Stderr) RunWal(IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        var psi = new ProcessStartInfo(EntryPoint) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var name in psi.Environment.Keys.Where(k => k.StartsWith("AWS_", StringComparison.Ordinal) || k.StartsWith("AZURE_", StringComparison.Ordinal)).ToList())
            psi.Environment.Remove(name);
        foreach (var (name, value) in environment) psi.Environment[name] = value;
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(120_000)) { p.Kill(true); Assert.Fail("pgbt-wal did not finish in 120 s"); }
        return (p.ExitCode, stderr.Result);
    }

    private async Task<PgRepository> NewRepositoryAsync()
    {
        var options = Options();
        using (await BackupRepository.OpenAsync(ObjectStoreFactory.Register(options), create: true, CancellationToken.None)) { }
        return options;
    }

    [Fact]
    public async Task Pgbt_wal_pushes_and_gets_with_the_store_credentials_from_its_environment_and_fails_clearly_without_them()
    {
        var options = await NewRepositoryAsync();
        var env = RepositoryEnvironment.For(options);
        string repo = options.Location;
        var segments = WalTestSegments.CopyCompleted(fixture.Cluster, _temp.Path, 2);
        string name = Path.GetFileName(segments[0]);

        var (code, stderr) = RunWal(env, "push", segments[0], "--repo", repo);
        Assert.True(code == 0, stderr);
        (code, stderr) = RunWal(env, "push", segments[0], "--repo", repo); // a re-push of the same bytes
        Assert.True(code == 0, stderr);

        // Another file of that name: refused (3), the archived one is kept.
        string otherDir = Directory.CreateDirectory(Path.Combine(_temp.Path, "other")).FullName;
        var bytes = File.ReadAllBytes(segments[0]);
        bytes[^1] ^= 1;
        File.WriteAllBytes(Path.Combine(otherDir, name), bytes);
        (code, stderr) = RunWal(env, "push", Path.Combine(otherDir, name), "--repo", repo);
        Assert.Equal(3, code);
        Assert.Contains("different content", stderr);

        string dest = Path.Combine(_temp.Path, "RECOVERYXLOG");
        (code, stderr) = RunWal(env, "get", name, dest, "--repo", repo);
        Assert.True(code == 0, stderr);
        Assert.Equal(File.ReadAllBytes(segments[0]), File.ReadAllBytes(dest));
        (code, stderr) = RunWal(env, "get", Path.GetFileName(segments[1]), dest + "2", "--repo", repo);
        Assert.Equal(1, code); // not archived: quiet
        Assert.Equal("", stderr);

        // Wrong or missing credentials: a get exits above 125 (recovery stops instead of ending early), a push fails;
        // one line naming the store and the cause, never the secret, and nothing written.
        foreach (var (what, bad) in new[] { ("wrong credentials", WithWrongCredentials(env)), ("no credentials", WithoutCredentials(env)) })
        {
            string missing = Path.Combine(_temp.Path, "never-" + what.Replace(' ', '-'));
            (code, stderr) = RunWal(bad, "get", name, missing, "--repo", repo);
            Assert.True(code == 126, $"{what}: get exited {code}: {stderr}");
            Assert.Contains(StoreName, stderr);
            Assert.Contains(repo, stderr);
            Assert.False(File.Exists(missing));
            foreach (var secret in env.Values.Where(v => v.Length >= 8 && !v.StartsWith("http", StringComparison.Ordinal))) Assert.DoesNotContain(secret, stderr);
            (code, stderr) = RunWal(bad, "push", segments[1], "--repo", repo);
            Assert.True(code == 2, $"{what}: push exited {code}: {stderr}");
        }
        // A store that does not answer: a plain failure (PostgreSQL retries a push; a standby keeps asking for a get).
        (code, stderr) = RunWal(WithDeadEndpoint(env), "get", name, dest + "3", "--repo", repo);
        Assert.True(code == 2, $"dead endpoint: get exited {code}: {stderr}");
        Assert.Contains("cannot be reached", stderr);
        Assert.Contains(StoreName, stderr);

        var archive = await WalArchive.OpenAsync(repo, null, CancellationToken.None);
        var archived = Assert.Single(await archive.ListAsync(CancellationToken.None));
        Assert.Equal(name, archived.Name.Name);
        // The storage class / access tier of New-PgRepository reached pgbt-wal through its environment too.
        var (stored, wanted) = await StorageClassAsync(options, archived.Object.Key);
        Assert.NotNull(wanted);
        Assert.Equal(wanted, stored);
    }

    [Fact]
    public async Task A_cluster_archives_into_the_store_and_a_physical_backup_from_it_restores_to_an_LSN_passes_its_test_and_damage_is_caught()
    {
        var options = await NewRepositoryAsync();
        var env = RepositoryEnvironment.For(options);
        string command = WalCommands.ArchiveCommand(EntryPoint, options.Location, "main");
        PgTestCluster.GiveToServerUser(_temp.Path);
        using var cluster = PgTestCluster.Start($"archive_mode = on\narchive_command = {ConfigurationFileSyntax.Quote(command)}\n", env);
        foreach (var secret in env.Values.Where(v => v.Length >= 8 && !v.StartsWith("http", StringComparison.Ordinal)))
            Assert.DoesNotContain(secret, cluster.Psql("SHOW archive_command"));
        cluster.Psql("CREATE TABLE drill(id int PRIMARY KEY)");
        int id = 0;
        void Rows(int count) { for (int i = 0; i < count; i++) cluster.Psql($"INSERT INTO drill(id) VALUES ({++id})"); }
        Rows(10);

        var server = PgConnectionInfo.Resolve(host: cluster.Host, port: cluster.Port, username: "postgres", database: "postgres", environment: new Dictionary<string, string?>());
        PgBackup backup;
        using (var repo = await BackupRepository.OpenAsync(options.Location, create: false, CancellationToken.None))
            backup = await PhysicalBackupJob.RunAsync(repo, server, new PhysicalBackupOptions(), OperationContext.None);
        Assert.Equal(options.Location, backup.Repository);
        Rows(5);
        string targetLsn = cluster.Psql("SELECT pg_current_wal_lsn()");
        int rowsAtLsn = id;
        Rows(5);
        string last = cluster.Psql("SELECT pg_walfile_name(pg_current_wal_lsn())");
        cluster.Psql("SELECT pg_switch_wal()");
        var archive = await WalArchive.OpenAsync(options.Location, "main", CancellationToken.None);
        for (var wait = Stopwatch.StartNew(); !await archive.ContainsAsync(last, CancellationToken.None); await Task.Delay(250))
            Assert.True(wait.Elapsed < TimeSpan.FromSeconds(90), $"{last} was not archived into {options.Location}: {File.ReadAllText(cluster.LogFile)}");
        Assert.True((await archive.CheckContinuityAsync(null, CancellationToken.None)).Passed);

        // This process has no AWS_/AZURE_ variable: restore_command reaches the store only through the options the
        // restore passes to the server it starts.
        Assert.DoesNotContain(Environment.GetEnvironmentVariables().Keys.Cast<string>(), k => env.ContainsKey(k));
        var restoreOptions = new PhysicalRestoreOptions
        {
            DataDirectory = Path.Combine(_temp.Path, "restored"), WalEntryPoint = EntryPoint, Start = true, Port = PgTestCluster.FindFreePort(),
            TargetLsn = targetLsn, Settings = new Dictionary<string, string> { ["archive_mode"] = "off" },
        };
        using (var repo = await BackupRepository.OpenAsync(options.Location, create: false, CancellationToken.None))
        {
            var result = await PhysicalRestoreJob.RunAsync(repo, backup, restoreOptions, OperationContext.None);
            try
            {
                Assert.Equal("promoted", result.RecoveryState);
                await using var conn = new NpgsqlConnection($"Host=127.0.0.1;Port={restoreOptions.Port};Username=postgres;Database=postgres;Pooling=false");
                await conn.OpenAsync();
                await using var cmd = new NpgsqlCommand("SELECT coalesce(string_agg(id::text, ',' ORDER BY id), '') FROM drill", conn);
                // Rows 11..15 were committed after the backup: only WAL fetched from the store by restore_command has them.
                Assert.Equal(string.Join(',', Enumerable.Range(1, rowsAtLsn)), (string)(await cmd.ExecuteScalarAsync())!);
            }
            finally
            {
                PhysicalRestoreJob.Stop(restoreOptions.DataDirectory, null);
            }

            // Test-PgBackup of the physical backup: a scratch server recovers from the store through restore_command.
            var proof = await BackupTestJob.RunAsync(repo, backup, server, true, [], OperationContext.None, EntryPoint);
            Assert.True(proof.Passed, proof.Error);

            // One bit flipped in the stored base backup: caught by its checksum, by the test and by a restore.
            string key = BackupRepository.BackupFileKey(backup.Stanza, backup.Id, backup.Files.Single().Name);
            await FlipOneBitAsync(repo.Store, key);
            var damaged = await BackupTestJob.RunAsync(repo, backup, server, true, [], OperationContext.None, EntryPoint);
            Assert.False(damaged.Passed);
            Assert.Contains(backup.Files.Single().Name, damaged.Error);
            var e = await Assert.ThrowsAnyAsync<PgBackupException>(() => PhysicalRestoreJob.RunAsync(repo, backup,
                restoreOptions with { DataDirectory = Path.Combine(_temp.Path, "restored-damaged"), Start = false }, OperationContext.None));
            Assert.Contains(backup.Files.Single().Name, e.Message);
        }
    }

    [Fact]
    public async Task A_WAL_object_damaged_in_the_store_makes_restore_command_exit_126_and_writes_nothing()
    {
        var options = await NewRepositoryAsync();
        var env = RepositoryEnvironment.For(options);
        var segment = WalTestSegments.CopyCompleted(fixture.Cluster, _temp.Path, 1)[0];
        string name = Path.GetFileName(segment);
        Assert.Equal(0, RunWal(env, "push", segment, "--repo", options.Location).Code);
        using var repo = await BackupRepository.OpenAsync(options.Location, create: false, CancellationToken.None);
        var archive = new WalArchive(repo, "main");
        var stored = Assert.Single(await archive.ListAsync(CancellationToken.None));
        await FlipOneBitAsync(repo.Store, stored.Object.Key, fromEnd: true);

        string dest = Path.Combine(_temp.Path, "RECOVERYXLOG");
        var (code, stderr) = RunWal(env, "get", name, dest, "--repo", options.Location, "--prefetch", "0");
        Assert.True(code == 126, $"get exited {code}: {stderr}");
        Assert.Contains("damaged", stderr);
        Assert.Contains(options.Location, stderr);
        Assert.False(File.Exists(dest));
        Assert.Empty(Directory.EnumerateFiles(_temp.Path, ".RECOVERYXLOG*"));
    }

    [Fact]
    public async Task Restore_command_asks_the_store_once_for_a_segment_that_is_not_archived_and_still_finds_a_streamed_partial()
    {
        var options = await NewRepositoryAsync();
        var segments = WalTestSegments.CopyCompleted(fixture.Cluster, _temp.Path, 2); // consecutive: the second is never pushed
        var counting = new CountingStore(ObjectStoreFactory.Create(options.Location, options));
        using var repo = await BackupRepository.OpenAsync(counting, create: false, CancellationToken.None);
        var archive = new WalArchive(repo, "main");
        await archive.PushAsync(segments[0], new WalPushOptions(), OperationContext.None);
        string archived = Path.GetFileName(segments[0]), missing = Path.GetFileName(segments[1]);
        string dest = Path.Combine(_temp.Path, "RECOVERYXLOG");

        // Not archived, with prefetch on as pgbt-wal runs it: one listing answers for every extension and the .partial.
        counting.Reset();
        Assert.Null(await archive.GetAsync(missing, dest, new WalGetOptions { Prefetch = 4 }, OperationContext.None));
        Assert.Equal(["list " + archive.KeyOf(WalFileName.Parse(missing), CompressionKind.None)], counting.Calls);
        Assert.False(File.Exists(dest));
        Assert.Empty(Directory.EnumerateFiles(_temp.Path, ".RECOVERYXLOG*"));

        // An archived segment is found by the same kind of listing (no probe per extension) and served byte for byte.
        counting.Reset();
        var got = await archive.GetAsync(archived, dest, new WalGetOptions(), OperationContext.None);
        Assert.NotNull(got);
        Assert.Equal(await File.ReadAllBytesAsync(segments[0]), await File.ReadAllBytesAsync(dest));
        Assert.Equal(1, counting.Count("list"));
        Assert.Equal(0, counting.Count("info"));

        // The WAL stream's partial of the missing segment: found by that one listing too, served zero-padded.
        byte[] streamed = (await File.ReadAllBytesAsync(segments[1]))[..(64 << 10)];
        await archive.WritePartialAsync(WalFileName.Parse(missing), streamed, new WalPushOptions(), checkExisting: false, CancellationToken.None);
        counting.Reset();
        var partial = await archive.GetAsync(missing, dest, new WalGetOptions { Prefetch = 4 }, OperationContext.None);
        Assert.NotNull(partial);
        Assert.Equal(nameof(WalFileKind.Partial), partial.Kind);
        byte[] served = await File.ReadAllBytesAsync(dest);
        Assert.Equal(new FileInfo(segments[1]).Length, served.Length);
        Assert.Equal(streamed, served[..streamed.Length]);
        Assert.True(served.AsSpan(streamed.Length).IndexOfAnyExcept((byte)0) < 0, "zero-padded");
        Assert.Equal(1, counting.Count("list"));
        Assert.Equal(0, counting.Count("info"));

        // The stream removes the partial once the segment is whole: found by one listing too, then deleted.
        counting.Reset();
        await archive.DeletePartialAsync(WalFileName.Parse(missing), CancellationToken.None);
        Assert.Equal(["list " + archive.KeyOf(WalFileName.Parse(missing).AsPartial(), CompressionKind.None),
            "delete " + archive.KeyOf(WalFileName.Parse(missing).AsPartial(), CompressionKind.Zstd)], counting.Calls);
        Assert.Null(await archive.GetAsync(missing, dest + ".after", new WalGetOptions(), OperationContext.None));
    }

    /// <summary>Rewrites an object with one bit flipped (same size: only a checksum can tell).</summary>
    private static async Task FlipOneBitAsync(IObjectStore store, string key, bool fromEnd = false)
    {
        byte[] bytes;
        await using (var read = await store.OpenReadAsync(key, CancellationToken.None))
        using (var copy = new MemoryStream())
        {
            await read.CopyToAsync(copy);
            bytes = copy.ToArray();
        }
        bytes[fromEnd ? bytes.Length - 100 : bytes.Length / 2] ^= 0x10;
        await using var write = await store.CreateAsync(key, overwrite: true, CancellationToken.None);
        await write.WriteAsync(bytes);
        await write.CommitAsync(CancellationToken.None);
    }

    public void Dispose() => _temp.Dispose();
}

[Collection("cluster")]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class S3CloudWalArchivingTests(ClusterFixture cluster, S3rverFixture s3) : CloudWalArchivingTests(cluster), IClassFixture<S3rverFixture>
{
    protected override string StoreName => "S3";
    protected override PgRepository Options() => s3.Options();

    // s3rver checks the access key id, not the signature: the wrong credential is the key id.
    protected override Dictionary<string, string> WithWrongCredentials(IReadOnlyDictionary<string, string> environment) =>
        new(environment) { ["AWS_ACCESS_KEY_ID"] = "WRONGKEY" };

    protected override Dictionary<string, string> WithoutCredentials(IReadOnlyDictionary<string, string> environment)
    {
        var env = new Dictionary<string, string>(environment);
        env.Remove("AWS_ACCESS_KEY_ID");
        env.Remove("AWS_SECRET_ACCESS_KEY");
        env["AWS_SHARED_CREDENTIALS_FILE"] = "/nonexistent/credentials";
        env["AWS_CONFIG_FILE"] = "/nonexistent/config";
        env["AWS_EC2_METADATA_DISABLED"] = "true";
        return env;
    }

    protected override Dictionary<string, string> WithDeadEndpoint(IReadOnlyDictionary<string, string> environment) =>
        new(environment) { ["AWS_ENDPOINT_URL_S3"] = $"http://127.0.0.1:{PgTestCluster.FindFreePort()}" };

    protected override async Task<(string? Stored, string? Wanted)> StorageClassAsync(PgRepository options, string key)
    {
        using var store = s3.Store(options);
        var meta = await store.Client.GetObjectMetadataAsync(store.Bucket, RepositoryLocation.Parse(options.Location).ObjectName(key));
        return (meta.StorageClass?.Value, options.StorageClass);
    }

    // Web identity (an EKS service account, OIDC federation) is the one credential source that needs a second SDK
    // client, which Native AOT trims away unless registered. STS here is a loopback listener that answers
    // AssumeRoleWithWebIdentity with the emulator's keys, so the credential pgbt-wal signs with came from STS.
    [Fact]
    public async Task Pgbt_wal_gets_its_credentials_by_web_identity_from_STS()
    {
        var options = Options();
        using (await BackupRepository.OpenAsync(ObjectStoreFactory.Register(options), create: true, CancellationToken.None)) { }
        using var temp = new TempDirectory();
        var segment = WalTestSegments.CopyCompleted(cluster.Cluster, temp.Path, 1)[0];
        Assert.Equal(0, RunWal(RepositoryEnvironment.For(options), "push", segment, "--repo", options.Location).Code);
        string tokenFile = Path.Combine(temp.Path, "token");
        File.WriteAllText(tokenFile, "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJwZ2J0In0.c2lnbmF0dXJl");

        int port = PgTestCluster.FindFreePort();
        using var sts = new HttpListener();
        sts.Prefixes.Add($"http://127.0.0.1:{port}/");
        sts.Start();
        var requests = new List<string>();
        var serving = Task.Run(async () =>
        {
            while (sts.IsListening)
            {
                HttpListenerContext context;
                try { context = await sts.GetContextAsync(); } catch (Exception) { return; }
                string form;
                using (var reader = new StreamReader(context.Request.InputStream)) form = await reader.ReadToEndAsync();
                lock (requests) requests.Add(form);
                string expires = DateTime.UtcNow.AddHours(1).ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture);
                var body = System.Text.Encoding.UTF8.GetBytes($"""
                    <AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleWithWebIdentityResult>
                    <Credentials><AccessKeyId>{S3rverEmulator.AccessKeyId}</AccessKeyId><SecretAccessKey>{S3rverEmulator.SecretAccessKey}</SecretAccessKey><SessionToken>session</SessionToken><Expiration>{expires}</Expiration></Credentials>
                    <SubjectFromWebIdentityToken>pgbt</SubjectFromWebIdentityToken><AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/wal/pgbt</Arn><AssumedRoleId>AROAEXAMPLE:pgbt</AssumedRoleId></AssumedRoleUser>
                    </AssumeRoleWithWebIdentityResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></AssumeRoleWithWebIdentityResponse>
                    """);
                context.Response.ContentType = "text/xml";
                await context.Response.OutputStream.WriteAsync(body);
                context.Response.Close();
            }
        });
        var env = new Dictionary<string, string>
        {
            ["AWS_ENDPOINT_URL_S3"] = options.EndpointUrl!,
            ["AWS_ENDPOINT_URL_STS"] = $"http://127.0.0.1:{port}",
            ["AWS_WEB_IDENTITY_TOKEN_FILE"] = tokenFile,
            ["AWS_ROLE_ARN"] = "arn:aws:iam::123456789012:role/wal",
            ["AWS_SHARED_CREDENTIALS_FILE"] = "/nonexistent/credentials",
            ["AWS_CONFIG_FILE"] = "/nonexistent/config",
            ["AWS_EC2_METADATA_DISABLED"] = "true",
        };
        string dest = Path.Combine(temp.Path, "fetched");
        var (code, stderr) = RunWal(env, "get", Path.GetFileName(segment), dest, "--repo", options.Location);
        sts.Stop();
        await serving;
        Assert.True(code == 0, stderr);
        Assert.Equal(File.ReadAllBytes(segment), File.ReadAllBytes(dest));
        Assert.Contains(requests, r => r.Contains("Action=AssumeRoleWithWebIdentity", StringComparison.Ordinal) && r.Contains("WebIdentityToken=eyJ", StringComparison.Ordinal));
    }
}

[Collection("cluster")]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class AzureCloudWalArchivingTests(ClusterFixture cluster, AzuriteFixture azure) : CloudWalArchivingTests(cluster), IClassFixture<AzuriteFixture>
{
    protected override string StoreName => "Azure Blob";
    protected override PgRepository Options() => azure.Options();

    protected override Dictionary<string, string> WithWrongCredentials(IReadOnlyDictionary<string, string> environment) =>
        new(environment) { ["AZURE_STORAGE_KEY"] = Convert.ToBase64String(System.Text.Encoding.ASCII.GetBytes("wrong-" + Guid.NewGuid())) };

    protected override Dictionary<string, string> WithoutCredentials(IReadOnlyDictionary<string, string> environment)
    {
        var env = new Dictionary<string, string>(environment);
        env.Remove("AZURE_STORAGE_KEY");
        return env;
    }

    protected override Dictionary<string, string> WithDeadEndpoint(IReadOnlyDictionary<string, string> environment) =>
        new(environment) { ["AZURE_STORAGE_BLOB_ENDPOINT"] = $"http://127.0.0.1:{PgTestCluster.FindFreePort()}/{AzuriteEmulator.AccountName}" };

    protected override async Task<(string? Stored, string? Wanted)> StorageClassAsync(PgRepository options, string key)
    {
        var props = await azure.Store(options).Container.GetBlobClient(RepositoryLocation.Parse(options.Location).ObjectName(key)).GetPropertiesAsync();
        return (props.Value.AccessTier, options.AccessTier);
    }

    // Azurite honours If-None-Match: * as Azure does (s3rver does not, see S3StoreContractTests), so here the store's
    // condition, not a check before it, decides a race: exactly one push wins, the other is refused as a conflict.
    [Fact]
    public async Task Of_two_concurrent_pushes_of_one_segment_with_different_bytes_exactly_one_wins()
    {
        using var temp = new TempDirectory();
        var segment = WalTestSegments.CopyCompleted(cluster.Cluster, temp.Path, 1)[0];
        var bytes = File.ReadAllBytes(segment);
        bytes[^1] ^= 1;
        var other = Path.Combine(Directory.CreateDirectory(Path.Combine(temp.Path, "other")).FullName, Path.GetFileName(segment));
        File.WriteAllBytes(other, bytes);
        for (int round = 0; round < 5; round++)
        {
            var options = Options();
            var repository = await BackupRepository.OpenAsync(ObjectStoreFactory.Register(options), create: true, CancellationToken.None);
            var archive = new WalArchive(repository, "main");
            var a = Task.Run(() => archive.PushAsync(segment, new WalPushOptions(), OperationContext.None));
            var b = Task.Run(() => archive.PushAsync(other, new WalPushOptions(), OperationContext.None));
            var outcomes = await Task.WhenAll(Outcome(a), Outcome(b));
            var winner = Assert.Single(outcomes, o => o.Segment is not null).Segment!;
            Assert.IsType<WalConflictException>(Assert.Single(outcomes, o => o.Error is not null).Error);
            var fetched = Path.Combine(temp.Path, "fetched" + round);
            await archive.GetAsync(winner.Name, fetched, new WalGetOptions(), OperationContext.None);
            Assert.Equal(winner.Sha256, Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(fetched))).ToLowerInvariant());
        }

        static async Task<(PgWalSegment? Segment, Exception? Error)> Outcome(Task<PgWalSegment> push)
        {
            try { return (await push, null); }
            catch (Exception e) { return (null, e); }
        }
    }
}
