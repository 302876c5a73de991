using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Retention;
using PgBackupTools.Core.Storage;
using PgBackupTools.Core.Streams.Encryption;
using PgBackupTools.Core.Tests.Storage;
using PgBackupTools.Core.Tests.Wal;
using PgBackupTools.Core.Wal;

namespace PgBackupTools.Core.Tests.Retention;

/// <summary>
/// WAL pruning on each store, with real segments from a running cluster: a prune that dies halfway leaves every
/// needed segment and no hole, and the next run finishes it; a manifest that cannot be read stops the prune.
/// </summary>
public abstract class WalPrunerStoreTests(ClusterFixture fixture) : IDisposable
{
    private readonly TempDirectory _temp = new();

    protected abstract Task<BackupRepository> NewRepositoryAsync();

    public void Dispose() => _temp.Dispose();

    protected static PgBackup PhysicalStartingIn(WalFileName segment, long segmentSize) => new()
    {
        Id = RepositoryNames.NewBackupId(DateTimeOffset.UtcNow) + "-" + segment.Seg.ToString("X"), Type = BackupType.Physical, Stanza = "main",
        StartTime = DateTimeOffset.UtcNow, EndTime = DateTimeOffset.UtcNow, Timeline = segment.Timeline,
        StartLsn = Core.Backup.Lsn.Format(segment.SegmentNumber(segmentSize) * (ulong)segmentSize + 0x28), StartWalSegment = segment.Name,
        Files = [new PgBackupFile { Name = "base.tar.zst" }],
    };

    /// <summary>Six real consecutive segments in the archive of stanza 'main'; returns their names, oldest first, and the local copies.</summary>
    protected async Task<(List<string> Names, List<string> Paths, long SegmentSize)> ArchiveSixSegmentsAsync(WalArchive archive)
    {
        var paths = WalTestSegments.CopyCompleted(fixture.Cluster, _temp.Path, 6);
        foreach (var path in paths) await archive.PushAsync(path, new WalPushOptions(), OperationContext.None);
        long size = (await archive.ReadBindingAsync(default))!.WalSegmentSize;
        var names = paths.Select(p => Path.GetFileName(p)).ToList();
        var first = WalFileName.Parse(names[0]);
        Assert.Equal(names, Enumerable.Range(0, 6).Select(i => WalFileName.SegmentFileName(first.Timeline, first.SegmentNumber(size) + (ulong)i, size)));
        return (names, paths, size);
    }

    protected static async Task<List<string>> ArchivedAsync(WalArchive archive) =>
        (await archive.ListAsync(default)).Select(f => f.Name.Name).Order(StringComparer.Ordinal).ToList();

    [Fact]
    public async Task An_interrupted_prune_leaves_every_needed_segment_and_no_hole_and_the_next_run_finishes_it()
    {
        using var repo = await NewRepositoryAsync();
        var archive = new WalArchive(repo, "main");
        var (names, paths, size) = await ArchiveSixSegmentsAsync(archive);
        var kept = PhysicalStartingIn(WalFileName.Parse(names[4]), size);
        await repo.WriteManifestAsync(kept, default);
        // An older backup whose removal died after its manifest went: it does not exist, so it protects no WAL.
        var halfRemoved = PhysicalStartingIn(WalFileName.Parse(names[1]), size);
        await repo.WriteManifestAsync(halfRemoved, default);
        await repo.Store.DeleteAsync(BackupRepository.BackupFileKey("main", halfRemoved.Id, BackupRepository.ManifestName), default);

        var plan = await WalPruner.PlanAsync(repo, "main", new HashSet<string>(), default);
        Assert.Equal(kept.Id, plan.OldestKept!.Id);
        Assert.Equal(names[..4], plan.Files.Select(f => f.Name.Name));
        var range = Assert.Single(plan.Ranges);

        // The process dies after two deletions.
        var dying = new DyingStore(repo.Store, deletionsBeforeCrash: 2);
        await Assert.ThrowsAsync<IOException>(() => WalPruner.RemoveAsync(dying, "main", range, OperationContext.None));
        Assert.Equal(names[2..], await ArchivedAsync(archive)); // the two oldest went, nothing newer, no hole
        Assert.True((await archive.CheckContinuityAsync(null, default)).Passed);
        Assert.True((await archive.CheckContinuityAsync(names[4], default)).Passed);

        var again = await WalPruner.PlanAsync(repo, "main", new HashSet<string>(), default);
        Assert.Equal(names[2..4], again.Files.Select(f => f.Name.Name));
        await WalPruner.RemoveAsync(repo.Store, "main", Assert.Single(again.Ranges), OperationContext.None);
        Assert.Equal(names[4..], await ArchivedAsync(archive));
        Assert.Empty((await WalPruner.PlanAsync(repo, "main", new HashSet<string>(), default)).Ranges);

        // What stays is served byte for byte.
        string fetched = Path.Combine(_temp.Path, "fetched");
        Assert.NotNull(await archive.GetAsync(names[4], fetched, new WalGetOptions(), OperationContext.None));
        Assert.Equal(await File.ReadAllBytesAsync(paths[4]), await File.ReadAllBytesAsync(fetched));
    }

    [Fact]
    public async Task An_unreadable_manifest_in_the_stanza_stops_the_prune()
    {
        using var repo = await NewRepositoryAsync();
        var archive = new WalArchive(repo, "main");
        var (names, _, size) = await ArchiveSixSegmentsAsync(archive);
        await repo.WriteManifestAsync(PhysicalStartingIn(WalFileName.Parse(names[4]), size), default);
        await using (var garbage = await repo.Store.CreateAsync(BackupRepository.BackupFileKey("main", "20260101T000000Z-damaged", BackupRepository.ManifestName), overwrite: false, default))
        {
            await garbage.WriteAsync("{ not json"u8.ToArray());
            await garbage.CommitAsync(default);
        }
        var plan = await WalPruner.PlanAsync(repo, "main", new HashSet<string>(), default);
        Assert.Empty(plan.Ranges);
        Assert.Contains("not readable", plan.Explanation);
        Assert.Equal([plan.Explanation], plan.Warnings);
        Assert.Equal(names, await ArchivedAsync(archive));
    }

    /// <summary>The marker a running backup that started in <paramref name="segment"/> keeps in its folder (as InProgressHeartbeat writes it).</summary>
    protected static async Task<BackupInProgressMarker> WriteMarkerAsync(BackupRepository repo, WalFileName segment, long segmentSize, Func<string, string>? damage = null)
    {
        var marker = new BackupInProgressMarker
        {
            BackupId = RepositoryNames.NewBackupId(DateTimeOffset.UtcNow) + "-running", Stanza = "main", Type = BackupType.Physical,
            Phase = BackupInProgressMarker.RunningPhase, Timeline = segment.Timeline, StartWalSegment = segment.Name,
            StartLsn = Core.Backup.Lsn.Format(segment.SegmentNumber(segmentSize) * (ulong)segmentSize + 0x28),
            Host = Environment.MachineName, Pid = Environment.ProcessId, StartedAt = DateTimeOffset.UtcNow, HeartbeatAt = DateTimeOffset.UtcNow, HeartbeatSeconds = 60,
        };
        await using var writer = await repo.Store.CreateAsync(BackupInProgressMarker.KeyOf("main", marker.BackupId), overwrite: true, default);
        byte[] json = marker.ToSealedJson();
        await writer.WriteAsync(damage is null ? json : System.Text.Encoding.UTF8.GetBytes(damage(System.Text.Encoding.UTF8.GetString(json))));
        await writer.CommitAsync(default);
        return marker;
    }

    [Fact]
    public async Task A_live_in_progress_marker_holds_the_WAL_from_its_start_until_its_heartbeat_is_older_than_the_grace_period()
    {
        using var repo = await NewRepositoryAsync();
        var archive = new WalArchive(repo, "main");
        var (names, _, size) = await ArchiveSixSegmentsAsync(archive);
        await repo.WriteManifestAsync(PhysicalStartingIn(WalFileName.Parse(names[4]), size), default);
        var running = await WriteMarkerAsync(repo, WalFileName.Parse(names[1]), size);
        // A committed backup whose marker was left behind (the process died between commit and cleanup): its manifest speaks for it.
        var committed = PhysicalStartingIn(WalFileName.Parse(names[3]), size);
        await repo.WriteManifestAsync(committed, default);
        await using (var leftover = await repo.Store.CreateAsync(BackupInProgressMarker.KeyOf("main", committed.Id), overwrite: true, default))
        {
            await leftover.WriteAsync((running with { BackupId = committed.Id, StartLsn = "0/28", StartWalSegment = WalFileName.SegmentFileName(1, 0, size), Timeline = 1 }).ToSealedJson());
            await leftover.CommitAsync(default);
        }

        var plan = await WalPruner.PlanAsync(repo, "main", new HashSet<string>(), default);
        Assert.Equal(names[..1], plan.Files.Select(f => f.Name.Name));
        Assert.Equal(running.BackupId, plan.HeldBy!.BackupId);
        Assert.Equal(names[1], plan.KeepFrom);
        Assert.Contains($"backup {running.BackupId} in progress", plan.Explanation);
        Assert.Contains(running.BackupId, plan.Describe(Assert.Single(plan.Ranges)));
        Assert.Empty(plan.Warnings);
        // Its folder is fresh, so the leftover cleanup leaves it too.
        Assert.Empty(await BackupRemover.FindLeftoversAsync(repo, "main", TimeSpan.FromHours(1), DateTimeOffset.UtcNow, default));

        // The backup was killed: its heartbeat stops, and after the grace period the marker no longer holds anything back.
        var later = DateTimeOffset.UtcNow + TimeSpan.FromHours(2);
        var stale = await WalPruner.PlanAsync(repo, "main", new HashSet<string>(), default, TimeSpan.FromHours(1), later);
        Assert.Null(stale.HeldBy);
        Assert.Equal(names[..3], stale.Files.Select(f => f.Name.Name)); // the committed backup at names[3] is the oldest kept
        string warning = Assert.Single(stale.Warnings);
        Assert.Contains(BackupInProgressMarker.KeyOf("main", running.BackupId), warning);
        Assert.Contains("grace period", warning);
        Assert.Contains(warning, stale.Explanation);
        var leftovers = await BackupRemover.FindLeftoversAsync(repo, "main", TimeSpan.FromHours(1), later, default);
        Assert.Equal([running.BackupId], leftovers.Select(l => l.Id));
        await BackupRemover.RemoveLeftoverAsync(repo, "main", running.BackupId, default);
        Assert.Null(await repo.Store.GetInfoAsync(BackupInProgressMarker.KeyOf("main", running.BackupId), default));
        Assert.Empty((await WalPruner.PlanAsync(repo, "main", new HashSet<string>(), default, TimeSpan.FromHours(1), later)).Warnings);
    }

    [Fact]
    public async Task A_damaged_in_progress_marker_stops_the_prune()
    {
        using var repo = await NewRepositoryAsync();
        var archive = new WalArchive(repo, "main");
        var (names, _, size) = await ArchiveSixSegmentsAsync(archive);
        await repo.WriteManifestAsync(PhysicalStartingIn(WalFileName.Parse(names[4]), size), default);
        // One digit of the start LSN flipped on the way to the disk: the checksum line catches it.
        var marker = await WriteMarkerAsync(repo, WalFileName.Parse(names[1]), size, text =>
        {
            int at = text.IndexOf("\"startLsn\": \"", StringComparison.Ordinal) + "\"startLsn\": \"".Length;
            return text[..at] + "F" + text[(at + 1)..];
        });

        var plan = await WalPruner.PlanAsync(repo, "main", new HashSet<string>(), default);
        Assert.Empty(plan.Ranges);
        Assert.Contains($"in-progress marker {BackupInProgressMarker.KeyOf("main", marker.BackupId)} is not readable", plan.Explanation);
        Assert.Contains("checksum", plan.Explanation);
        Assert.Equal([plan.Explanation], plan.Warnings);
        Assert.Equal(names, await ArchivedAsync(archive));
    }

    /// <summary>A store that stops answering deletes after a number of them, as a killed process or a lost connection would.</summary>
    private sealed class DyingStore(IObjectStore inner, int deletionsBeforeCrash) : IObjectStore
    {
        private int _deletions;
        public string Location => inner.Location;
        public Task<ObjectWriteStream> CreateAsync(string key, bool overwrite, CancellationToken ct) => inner.CreateAsync(key, overwrite, ct);
        public Task<Stream> OpenReadAsync(string key, CancellationToken ct) => inner.OpenReadAsync(key, ct);
        public Task<StoredObjectInfo?> GetInfoAsync(string key, CancellationToken ct) => inner.GetInfoAsync(key, ct);
        public IAsyncEnumerable<StoredObjectInfo> ListAsync(string prefix, CancellationToken ct) => inner.ListAsync(prefix, ct);
        public string? TryGetLocalPath(string key) => inner.TryGetLocalPath(key);

        public Task DeleteAsync(string key, CancellationToken ct) =>
            ++_deletions > deletionsBeforeCrash ? throw new IOException("simulated crash during a prune") : inner.DeleteAsync(key, ct);
    }
}

[Collection("cluster")]
public sealed class FileSystemWalPrunerTests(ClusterFixture fixture) : WalPrunerStoreTests(fixture)
{
    private readonly TempDirectory _repo = new();
    protected override Task<BackupRepository> NewRepositoryAsync() => BackupRepository.OpenAsync(Path.Combine(_repo.Path, "repo"), create: true, default);

    [Fact]
    public async Task A_byte_flipped_in_the_start_LSN_of_a_kept_manifest_stops_the_prune_instead_of_deleting_the_WAL_the_backup_needs()
    {
        using var repo = await NewRepositoryAsync();
        var archive = new WalArchive(repo, "main");
        var (names, _, size) = await ArchiveSixSegmentsAsync(archive);
        var kept = PhysicalStartingIn(WalFileName.Parse(names[2]), size);
        await repo.WriteManifestAsync(kept, default);

        // Bit rot on the disk: one character of the start LSN's segment digits turns into a larger hex digit, so the
        // manifest still parses but claims the backup starts later than it does.
        string manifestPath = Path.Combine(_repo.Path, "repo", "backups", "main", kept.Id, BackupRepository.ManifestName);
        byte[] bytes = await File.ReadAllBytesAsync(manifestPath);
        string text = System.Text.Encoding.ASCII.GetString(bytes);
        int lsnEnd = text.IndexOf(kept.StartLsn!, StringComparison.Ordinal) + kept.StartLsn!.Length;
        int at = lsnEnd - 1 - (int)Math.Ceiling(Math.Log2(size) / 4); // a hex digit of the segment number
        while (bytes[at] == (byte)'F') at--;
        Assert.True(Uri.IsHexDigit((char)bytes[at]));
        bytes[at] = (byte)(bytes[at] == (byte)'9' ? 'A' : bytes[at] + 1);
        await File.WriteAllBytesAsync(manifestPath, bytes);

        var plan = await WalPruner.PlanAsync(repo, "main", new HashSet<string>(), default);
        Assert.Empty(plan.Ranges);
        Assert.Contains(kept.Id, plan.Explanation);
        Assert.Equal(names, await ArchivedAsync(archive));

        var warnings = new List<string>();
        Assert.Empty(await repo.ListBackupsAsync("main", new OperationContext { Warning = warnings.Add }));
        Assert.Contains(warnings, w => w.Contains(kept.Id) && w.Contains("checksum"));
    }

    [Fact]
    public async Task An_encrypted_repository_is_pruned_without_its_passphrase_as_a_retention_job_runs()
    {
        string path = Path.Combine(_repo.Path, "encrypted");
        string keyFile = Path.Combine(_repo.Path, "key");
        File.WriteAllText(keyFile, "prune passphrase 51f0\n");
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(keyFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        List<string> names;
        using (var keyed = await BackupRepository.OpenAsync(path, create: true, default, PassphraseSource.FromKeyFile(keyFile)))
        {
            Assert.True(keyed.IsEncrypted);
            long size;
            (names, _, size) = await ArchiveSixSegmentsAsync(new WalArchive(keyed, "main"));
            await keyed.WriteManifestAsync(PhysicalStartingIn(WalFileName.Parse(names[3]), size), default);
        }

        using var repo = await BackupRepository.OpenAsync(path, create: false, default, keyRequired: false);
        Assert.Null(repo.Key);
        var plan = await WalPruner.PlanAsync(repo, "main", new HashSet<string>(), default);
        Assert.Equal(names[..3], plan.Files.Select(f => f.Name.Name));
        foreach (var range in plan.Ranges) await WalPruner.RemoveAsync(repo.Store, "main", range, OperationContext.None);
        Assert.Equal(names[3..], await ArchivedAsync(new WalArchive(repo, "main")));
    }
}

[Collection("cluster")]
public sealed class S3WalPrunerTests(ClusterFixture fixture, S3rverFixture s3) : WalPrunerStoreTests(fixture), IClassFixture<S3rverFixture>
{
    protected override Task<BackupRepository> NewRepositoryAsync() => BackupRepository.OpenAsync(ObjectStoreFactory.Register(s3.Options()), create: true, default);
}

[Collection("cluster")]
public sealed class AzureWalPrunerTests(ClusterFixture fixture, AzuriteFixture azure) : WalPrunerStoreTests(fixture), IClassFixture<AzuriteFixture>
{
    protected override Task<BackupRepository> NewRepositoryAsync() => BackupRepository.OpenAsync(ObjectStoreFactory.Register(azure.Options()), create: true, default);
}
