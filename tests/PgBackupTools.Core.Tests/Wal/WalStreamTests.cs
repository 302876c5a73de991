using System.Diagnostics;
using System.Text;
using Npgsql;
using PgBackupTools.Core.Backup;
using PgBackupTools.Core.Postgres;
using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Restore;
using PgBackupTools.Core.Wal;
using PgBackupTools.Core.Wal.Streaming;
using PgBackupTools.TestKit;

namespace PgBackupTools.Core.Tests.Wal;

/// <summary>
/// The WAL stream against real clusters: `pgbt-wal stream` as its own process (so it can be killed with SIGKILL),
/// a physical backup, numbered rows committed one per transaction, and restores "to latest" that must hold every row
/// committed before the stream's last confirmed flush.
/// </summary>
[Collection("cluster")]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")] // runuser, chown, SIGKILL: the test clusters are Linux-only
public sealed class WalStreamTests(ClusterFixture fixture) : IDisposable
{
    private readonly TempDirectory _temp = new();

    [Fact]
    public async Task Killed_stream_loses_nothing_it_confirmed_resumes_from_its_slot_and_survives_a_server_restart()
    {
        string repoPath = await NewRepositoryAsync();
        using var cluster = PgTestCluster.Start();
        var server = Connection(cluster);
        cluster.Psql("CREATE TABLE rows(id int PRIMARY KEY)");

        var stream = StartStream(repoPath, cluster, "--slot", "pgbt_test", "--create-slot", "--flush-interval", "0.5");
        var archive = await WalArchive.OpenAsync(repoPath, "main", CancellationToken.None);
        await WaitForAsync(async () => await WalStreamState.ReadAsync(archive, CancellationToken.None) is not null, stream, "the stream to confirm its first position");

        PgBackup backup;
        using (var repo = await BackupRepository.OpenAsync(repoPath, create: false, CancellationToken.None))
            backup = await PhysicalBackupJob.RunAsync(repo, server, new PhysicalBackupOptions(), OperationContext.None);

        // Numbered rows, one transaction each; after each commit, the end of WAL it needs.
        var committed = new List<(int Id, ulong Lsn)>();
        await CommitRowsAsync(cluster, committed, 1, 200);
        ulong lastCommit = committed[^1].Lsn;
        await WaitForAsync(async () => Lsn.Parse((await WalStreamState.ReadAsync(archive, CancellationToken.None))!.FlushLsn) >= lastCommit, stream, "the rows to be durable");
        await CommitRowsAsync(cluster, committed, 201, 230); // some of these may not be confirmed when the stream dies

        stream.Kill();
        var state = (await WalStreamState.ReadAsync(archive, CancellationToken.None))!;
        ulong confirmed = Lsn.Parse(state.FlushLsn);
        Assert.True(confirmed >= lastCommit);
        // Neither stream.json nor the slot passes what the repository holds. (The slot may pass stream.json: the stream
        // confirms a flush to the server before it rewrites stream.json, and the kill can fall between the two.)
        ulong slotAt = Lsn.Parse(cluster.Psql("SELECT restart_lsn FROM pg_replication_slots WHERE slot_name = 'pgbt_test'"));
        ulong held = await HeldThroughAsync(archive, state.Segment!);
        Assert.True(confirmed <= held, $"stream.json says {state.FlushLsn}, the repository holds WAL through {Lsn.Format(held)}");
        Assert.True(slotAt <= held, $"slot at {Lsn.Format(slotAt)}, the repository holds WAL through {Lsn.Format(held)}");
        // The tail lives in the open segment's .partial: no full segment of it yet.
        Assert.False(await archive.ContainsAsync(state.Segment!, CancellationToken.None));
        Assert.NotNull(await archive.ReadBytesAsync(WalFileName.Parse(state.Segment!).AsPartial(), CancellationToken.None));

        var mustHave = committed.Where(c => c.Lsn <= confirmed).Select(c => c.Id).ToList();
        var restored = await RestoreLatestRowsAsync(repoPath, backup, "after-kill");
        Assert.Superset(mustHave.ToHashSet(), restored.ToHashSet());

        // Restarted: the slot resumes where it confirmed; the server restarts under it; nothing goes missing.
        stream = StartStream(repoPath, cluster, "--slot", "pgbt_test", "--flush-interval", "0.5");
        // The restart must happen under a connected stream: a stream process slow to start (a loaded machine) would
        // otherwise first connect to the restarted server, never see the restart and never log a reconnect.
        await WaitForAsync(() => Task.FromResult(stream.Log.Contains("Streaming WAL from", StringComparison.Ordinal)
            && cluster.Psql("SELECT count(*) FROM pg_stat_replication WHERE application_name = 'pgbt_main' AND state = 'streaming'") == "1"),
            stream, "the restarted stream to be streaming");
        await CommitRowsAsync(cluster, committed, 231, 260);
        cluster.Stop("fast");
        cluster.StartServer();
        await CommitRowsAsync(cluster, committed, 261, 300);
        cluster.Psql("SELECT pg_switch_wal()");
        await CommitRowsAsync(cluster, committed, 301, 310);
        lastCommit = committed[^1].Lsn;
        await WaitForAsync(async () => Lsn.Parse((await WalStreamState.ReadAsync(archive, CancellationToken.None))!.FlushLsn) >= lastCommit, stream, "the stream to reconnect and catch up");
        // (stderr arrives asynchronously: give the line a moment)
        await WaitForAsync(() => Task.FromResult(stream.Log.Contains("reconnecting", StringComparison.Ordinal)), stream, "the reconnect to be logged");

        // A clean stop (the stop request Stop-PgWalStream sends) flushes and exits 0.
        Assert.True(await WalStreamControl.RequestStopAsync(archive.Repository.Store.Location, "main", TimeSpan.FromSeconds(60), CancellationToken.None, Path.Combine(_temp.Path, "state")), stream.Log);
        Assert.True(stream.Process.WaitForExit(30_000));
        Assert.Equal(0, stream.Process.ExitCode);

        var report = await archive.CheckContinuityAsync(backup.StartWalSegment, CancellationToken.None);
        Assert.True(report.Passed, string.Join(" ", report.Problems));
        restored = await RestoreLatestRowsAsync(repoPath, backup, "after-restart");
        Assert.Equal(committed.Select(c => c.Id), restored);
    }

    [Fact]
    public async Task A_repository_that_fills_up_under_the_stream_is_never_confirmed_past_what_it_holds_and_the_stream_catches_up_with_room()
    {
        using var disk = Storage.SmallDisk.Mount(_temp.Path, "stream-disk", megabytes: 64);
        string repoPath = Path.Combine(disk.Path, "repo");
        using (await BackupRepository.OpenAsync(repoPath, create: true, CancellationToken.None)) { }
        using var cluster = PgTestCluster.Start();
        cluster.Psql("CREATE TABLE rows(id int PRIMARY KEY)");
        var stream = StartStream(repoPath, cluster, "--slot", "pgbt_full", "--create-slot", "--flush-interval", "0.5");
        try
        {
            var archive = await WalArchive.OpenAsync(repoPath, "main", CancellationToken.None);
            var committed = new List<(int Id, ulong Lsn)>();
            await CommitRowsAsync(cluster, committed, 1, 50);
            await WaitForAsync(async () => await WalStreamState.ReadAsync(archive, CancellationToken.None) is { } s && Lsn.Parse(s.FlushLsn) >= committed[^1].Lsn, stream, "the first rows to be durable");

            disk.Fill();
            await CommitRowsAsync(cluster, committed, 51, 150);
            ulong last = committed[^1].Lsn;
            await WaitForAsync(() => Task.FromResult(stream.Log.Contains("Could not write streamed WAL", StringComparison.Ordinal)), stream, "the stream to find the repository full");
            var state = (await WalStreamState.ReadAsync(archive, CancellationToken.None))!;
            ulong held = await HeldThroughAsync(archive, state.Segment!);
            ulong slotAt = Lsn.Parse(cluster.Psql("SELECT restart_lsn FROM pg_replication_slots WHERE slot_name = 'pgbt_full'"));
            Assert.True(held < last, $"the repository holds WAL through {Lsn.Format(held)} though it was full before {Lsn.Format(last)} was written");
            Assert.True(slotAt <= held, $"slot at {Lsn.Format(slotAt)}, the repository holds WAL through {Lsn.Format(held)}: the server may recycle WAL nobody has");
            Assert.False(stream.Process.HasExited, stream.Log); // it waits for room rather than giving up its slot

            disk.Free();
            await WaitForAsync(async () => Lsn.Parse((await WalStreamState.ReadAsync(archive, CancellationToken.None))!.FlushLsn) >= last, stream, "the stream to catch up once there is room");
            state = (await WalStreamState.ReadAsync(archive, CancellationToken.None))!;
            Assert.True(await HeldThroughAsync(archive, state.Segment!) >= last);
        }
        finally
        {
            stream.Kill();
        }
    }

    [Fact]
    public async Task With_synchronous_commit_every_acknowledged_commit_survives_a_killed_stream()
    {
        string repoPath = await NewRepositoryAsync();
        using var cluster = PgTestCluster.Start("synchronous_standby_names = 'pgbt_sync'\nsynchronous_commit = on\n");
        var server = Connection(cluster);
        // Every commit waits for the stream from here on (even this one's CREATE TABLE).
        var stream = StartStream(repoPath, cluster, "--slot", "pgbt_sync", "--create-slot", "--synchronous", "--application-name", "pgbt_sync");
        var archive = await WalArchive.OpenAsync(repoPath, "main", CancellationToken.None);
        await WaitForAsync(async () => cluster.Psql("SELECT count(*) FROM pg_stat_replication WHERE application_name = 'pgbt_sync' AND sync_state = 'sync'") == "1",
            stream, "the stream to be the synchronous standby");
        cluster.Psql("CREATE TABLE rows(id int PRIMARY KEY)");

        PgBackup backup;
        using (var repo = await BackupRepository.OpenAsync(repoPath, create: false, CancellationToken.None))
            backup = await PhysicalBackupJob.RunAsync(repo, server, new PhysicalBackupOptions(), OperationContext.None);

        var committed = new List<(int Id, ulong Lsn)>();
        var sw = Stopwatch.StartNew();
        await CommitRowsAsync(cluster, committed, 1, 100);
        double perCommit = sw.Elapsed.TotalMilliseconds / 100;
        stream.Kill(); // right after the last acknowledged commit

        var restored = await RestoreLatestRowsAsync(repoPath, backup, "sync");
        Assert.Equal(committed.Select(c => c.Id), restored); // RPO 0: every acknowledged commit
        Console.WriteLine($"synchronous stream: {perCommit:F1} ms per commit");
    }

    [Fact]
    public async Task A_segment_from_the_stream_and_from_archive_command_is_the_same_bytes()
    {
        string streamed = await NewRepositoryAsync("streamed");
        string archived = await NewRepositoryAsync("archived");
        string command = WalCommands.ArchiveCommand(WalTestSegments.EntryPoint, archived, "main");
        using var cluster = PgTestCluster.Start($"archive_mode = on\narchive_command = {ConfigurationFileSyntax.Quote(command)}\n");
        var stream = StartStream(streamed, cluster, "--slot", "pgbt_cmp", "--create-slot", "--flush-interval", "0.5");
        var fromStream = await WalArchive.OpenAsync(streamed, "main", CancellationToken.None);
        var fromCommand = await WalArchive.OpenAsync(archived, "main", CancellationToken.None);
        await WaitForAsync(async () => await WalStreamState.ReadAsync(fromStream, CancellationToken.None) is not null, stream, "the stream to start");

        // Segments ended by pg_switch_wal() (the rest of the segment after the switch record) and by filling up.
        var segments = new List<string>();
        cluster.Psql("CREATE TABLE t(x text)");
        for (int i = 0; i < 3; i++)
        {
            cluster.Psql("INSERT INTO t SELECT repeat('x', 100) FROM generate_series(1, 1000)");
            segments.Add(cluster.Psql("SELECT pg_walfile_name(pg_current_wal_lsn())"));
            cluster.Psql("SELECT pg_switch_wal()");
        }
        string before = cluster.Psql("SELECT pg_walfile_name(pg_current_wal_lsn())");
        cluster.Psql("INSERT INTO t SELECT repeat(md5(g::text), 40) FROM generate_series(1, 40000) g"); // > 16 MiB of WAL
        string after = cluster.Psql("SELECT pg_walfile_name(pg_current_wal_lsn())");
        Assert.NotEqual(before, after);
        segments.Add(before);
        cluster.Psql("SELECT pg_switch_wal()");

        foreach (var name in segments)
        {
            await WaitForAsync(async () => await fromStream.ContainsAsync(name, CancellationToken.None) && await fromCommand.ContainsAsync(name, CancellationToken.None), stream, $"{name} from both");
            var a = await fromStream.ReadBytesAsync(WalFileName.Parse(name), CancellationToken.None);
            var b = await fromCommand.ReadBytesAsync(WalFileName.Parse(name), CancellationToken.None);
            Assert.True(a!.AsSpan().SequenceEqual(b), $"{name}: the streamed and the archived segment differ");
            // And into one archive: the second writer finds identical content, which is success.
            var again = await fromStream.PushBytesAsync(WalFileName.Parse(name), b, new WalPushOptions(), OperationContext.None);
            Assert.True(again.AlreadyArchived);
        }
        // Different bytes under an archived name are refused, never overwritten.
        var changed = (await fromCommand.ReadBytesAsync(WalFileName.Parse(segments[0]), CancellationToken.None))!;
        changed[changed.Length - 1] ^= 0xFF;
        await Assert.ThrowsAsync<WalConflictException>(() => fromStream.PushBytesAsync(WalFileName.Parse(segments[0]), changed, new WalPushOptions(), OperationContext.None));
        stream.Kill();
    }

    [Fact]
    public async Task Restore_command_serves_a_streamed_partial_zero_padded_and_a_truly_absent_segment_as_not_found()
    {
        string repoPath = await NewRepositoryAsync();
        var archive = await WalArchive.OpenAsync(repoPath, "main", CancellationToken.None);
        string copies = Path.Combine(_temp.Path, "copies");
        Directory.CreateDirectory(copies);
        string path = WalTestSegments.CopyCompleted(fixture.Cluster, copies, 1)[0];
        var segment = File.ReadAllBytes(path);
        string name = Path.GetFileName(path);
        var partial = segment.AsMemory(0, 3 * 8192 + 100);
        Assert.Equal(partial.Length, await archive.WritePartialAsync(WalFileName.Parse(name), partial, new WalPushOptions(), checkExisting: true, CancellationToken.None));
        // A partial only grows: a shorter rewrite keeps the longer one.
        Assert.Equal(partial.Length, await archive.WritePartialAsync(WalFileName.Parse(name), segment.AsMemory(0, 8192), new WalPushOptions(), checkExisting: true, CancellationToken.None));

        string dest = Path.Combine(_temp.Path, "RECOVERYXLOG");
        var (code, stderr) = WalTestSegments.RunEntryPoint("get", name, dest, "--repo", repoPath);
        Assert.True(code == 0, stderr);
        var got = File.ReadAllBytes(dest);
        Assert.Equal(segment.Length, got.Length);
        Assert.True(got.AsSpan(0, partial.Length).SequenceEqual(partial.Span));
        Assert.True(got.AsSpan(partial.Length).IndexOfAnyExcept((byte)0) < 0);

        string next = WalFileName.SegmentFileName(1, WalFileName.Parse(name).SegmentNumber(segment.Length) + 1, segment.Length);
        (code, stderr) = WalTestSegments.RunEntryPoint("get", next, Path.Combine(_temp.Path, "X"), "--repo", repoPath);
        Assert.Equal(1, code);
        Assert.Equal("", stderr);

        // At a promotion PostgreSQL archives its own <segment>.partial (the whole file): it replaces the stream's shorter
        // partial when that is a prefix of it, and is refused when it is not.
        string pgPartial = Path.Combine(copies, name + ".partial");
        var changed = (byte[])segment.Clone();
        changed[100] ^= 0xFF;
        File.WriteAllBytes(pgPartial, changed);
        (code, stderr) = WalTestSegments.RunEntryPoint("push", pgPartial, "--repo", repoPath);
        Assert.Equal(3, code);
        File.WriteAllBytes(pgPartial, segment);
        (code, stderr) = WalTestSegments.RunEntryPoint("push", pgPartial, "--repo", repoPath);
        Assert.True(code == 0, stderr);
        Assert.Equal(segment, await archive.ReadBytesAsync(WalFileName.Parse(name + ".partial"), CancellationToken.None));
    }

    [Fact]
    public async Task Stream_from_a_standby_follows_its_promotion_onto_timeline_2_and_the_archive_restores_across_the_switch()
    {
        string repoPath = await NewRepositoryAsync();
        using var primary = PgTestCluster.Start();
        primary.Psql("CREATE TABLE rows(id int PRIMARY KEY)");
        var committed = new List<(int Id, ulong Lsn)>();
        await CommitRowsAsync(primary, committed, 1, 50);

        // A standby of it, which the stream follows (cascading replication).
        string standbyDir = Path.Combine(_temp.Path, "standby");
        int standbyPort = PgTestCluster.FindFreePort();
        string bin = PgTestCluster.FindBinDirectory();
        PgTestCluster.GiveToServerUser(_temp.Path);
        PgTestCluster.RunAsServerUser(Path.Combine(bin, "pg_basebackup"), "-h", primary.Host, "-p", primary.Port.ToString(), "-U", "postgres", "-D", standbyDir, "-R", "-X", "stream");
        File.AppendAllText(Path.Combine(standbyDir, "postgresql.auto.conf"), $"port = {standbyPort}\n");
        PgTestCluster.RunAsServerUser(Path.Combine(bin, "pg_ctl"), "-D", standbyDir, "-l", Path.Combine(standbyDir, "server.log"), "-w", "start");
        try
        {
            var stream = StartStreamAt(repoPath, primary.Host, standbyPort, "--slot", "pgbt_tl", "--create-slot", "--flush-interval", "0.5");
            var archive = await WalArchive.OpenAsync(repoPath, "main", CancellationToken.None);
            await WaitForAsync(async () => await WalStreamState.ReadAsync(archive, CancellationToken.None) is not null, stream, "the stream to start");

            PgBackup backup;
            using (var repo = await BackupRepository.OpenAsync(repoPath, create: false, CancellationToken.None))
                backup = await PhysicalBackupJob.RunAsync(repo, Connection(primary), new PhysicalBackupOptions(), OperationContext.None);
            await CommitRowsAsync(primary, committed, 51, 100);
            ulong last = committed[^1].Lsn;
            await WaitForAsync(async () => Lsn.Parse((await WalStreamState.ReadAsync(archive, CancellationToken.None))!.FlushLsn) >= last, stream, "timeline 1 to be durable");

            // The primary goes; the standby is promoted to timeline 2 and takes the writes.
            primary.Stop("fast");
            PgTestCluster.RunAsServerUser(Path.Combine(bin, "pg_ctl"), "-D", standbyDir, "-w", "promote");
            var promoted = new PgTestClusterPort(standbyPort);
            await CommitRowsAsync(promoted.ConnectionString, committed, 101, 150);
            last = committed[^1].Lsn;
            await WaitForAsync(async () => await WalStreamState.ReadAsync(archive, CancellationToken.None) is { Timeline: 2 } state && Lsn.Parse(state.FlushLsn) >= last,
                stream, "timeline 2 to be streamed and durable");
            Assert.True(await archive.ContainsAsync("00000002.history", CancellationToken.None));
            stream.Kill();

            var restored = await RestoreLatestRowsAsync(repoPath, backup, "after-promotion");
            Assert.Equal(committed.Select(c => c.Id), restored);
        }
        finally
        {
            try { PgTestCluster.RunAsServerUser(Path.Combine(bin, "pg_ctl"), "-D", standbyDir, "-m", "immediate", "-w", "stop"); } catch (InvalidOperationException) { }
        }
    }

    private sealed record PgTestClusterPort(int Port)
    {
        public string ConnectionString => $"Host=127.0.0.1;Port={Port};Username=postgres;Database=postgres;Pooling=false";
    }

    // ------------------------------------------------------------------ helpers

    private async Task<string> NewRepositoryAsync(string name = "repo")
    {
        string repoPath = Path.Combine(_temp.Path, name);
        using (await BackupRepository.OpenAsync(repoPath, create: true, CancellationToken.None)) { }
        PgTestCluster.GiveToServerUser(_temp.Path);
        return repoPath;
    }

    private static PgConnectionInfo Connection(PgTestCluster cluster) =>
        PgConnectionInfo.Resolve(host: cluster.Host, port: cluster.Port, username: "postgres", database: "postgres", environment: new Dictionary<string, string?>());

    private StreamProcess StartStream(string repoPath, PgTestCluster cluster, params string[] extra) => StartStreamAt(repoPath, cluster.Host, cluster.Port, extra);

    private StreamProcess StartStreamAt(string repoPath, string host, int port, params string[] extra)
    {
        var psi = new ProcessStartInfo(WalTestSegments.EntryPoint) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in new[] { "stream", "--repo", repoPath, "--host", host, "--port", port.ToString(), "--user", "postgres" }.Concat(extra))
            psi.ArgumentList.Add(a);
        psi.Environment["PGBACKUPTOOLS_STATE_DIR"] = Path.Combine(_temp.Path, "state");
        psi.Environment.Remove("PGBACKUPTOOLS_PASSPHRASE");
        var process = Process.Start(psi)!;
        var result = new StreamProcess(process);
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (result.Buffer) result.Buffer.AppendLine(e.Data); };
        process.BeginErrorReadLine();
        _streams.Add(result);
        return result;
    }

    private readonly List<StreamProcess> _streams = [];

    private sealed class StreamProcess(Process process)
    {
        public Process Process { get; } = process;
        public StringBuilder Buffer { get; } = new();
        public string Log { get { lock (Buffer) return Buffer.ToString(); } }

        public void Kill()
        {
            if (!Process.HasExited) Process.Kill(); // SIGKILL: no flush, no goodbye
            Process.WaitForExit();
        }
    }

    private static Task CommitRowsAsync(PgTestCluster cluster, List<(int Id, ulong Lsn)> committed, int from, int to) =>
        CommitRowsAsync(cluster.ConnectionString(), committed, from, to);

    private static async Task CommitRowsAsync(string connectionString, List<(int Id, ulong Lsn)> committed, int from, int to)
    {
        await using var conn = new NpgsqlConnection(connectionString);
        await conn.OpenAsync();
        for (int id = from; id <= to; id++)
        {
            await using (var insert = new NpgsqlCommand($"INSERT INTO rows(id) VALUES ({id})", conn))
                await insert.ExecuteNonQueryAsync();
            // The flush position, not the insert position: the insert position can run ahead of every WAL byte the server
            // will send (unflushed records of other backends, a page header past a page boundary), and a wait for the
            // stream to reach it would hang on background activity; the flush position after a commit covers the commit.
            await using var lsn = new NpgsqlCommand("SELECT pg_current_wal_flush_lsn()::text", conn);
            committed.Add((id, Lsn.Parse((string)(await lsn.ExecuteScalarAsync())!)));
        }
    }

    private static async Task WaitForAsync(Func<Task<bool>> condition, StreamProcess stream, string what)
    {
        var wait = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                if (await condition()) return;
            }
            catch (Exception e) when (e is NpgsqlException or IOException or NullReferenceException) { }
            Assert.False(stream.Process.HasExited, $"the stream exited waiting for {what}: {stream.Log}");
            Assert.True(wait.Elapsed < TimeSpan.FromSeconds(120), $"timed out waiting for {what}: {stream.Log}");
            await Task.Delay(200);
        }
    }

    /// <summary>End of the WAL the archive holds on timeline 1 from <paramref name="segment"/> on: its complete segments, then the .partial's bytes.</summary>
    private static async Task<ulong> HeldThroughAsync(WalArchive archive, string segment)
    {
        const long segmentSize = 16 * 1024 * 1024; // the test clusters' initdb default
        ulong number = WalFileName.Parse(segment).SegmentNumber(segmentSize);
        while (await archive.ContainsAsync(WalFileName.SegmentFileName(1, number, segmentSize), CancellationToken.None)) number++;
        var partial = await archive.ReadBytesAsync(WalFileName.Parse(WalFileName.SegmentFileName(1, number, segmentSize)).AsPartial(), CancellationToken.None);
        return number * segmentSize + (ulong)(partial?.Length ?? 0);
    }

    private async Task<List<int>> RestoreLatestRowsAsync(string repoPath, PgBackup backup, string name)
    {
        var options = new PhysicalRestoreOptions
        {
            DataDirectory = Path.Combine(_temp.Path, name), WalEntryPoint = WalTestSegments.EntryPoint, Start = true, Port = PgTestCluster.FindFreePort(),
            Settings = new Dictionary<string, string> { ["archive_mode"] = "off", ["synchronous_standby_names"] = "" },
        };
        using var repo = await BackupRepository.OpenAsync(repoPath, create: false, CancellationToken.None);
        var result = await PhysicalRestoreJob.RunAsync(repo, backup, options, OperationContext.None);
        try
        {
            Assert.Equal("promoted", result.RecoveryState);
            await using var conn = new NpgsqlConnection($"Host=127.0.0.1;Port={options.Port};Username=postgres;Database=postgres;Pooling=false");
            await conn.OpenAsync();
            await using var cmd = new NpgsqlCommand("SELECT id FROM rows ORDER BY id", conn);
            var ids = new List<int>();
            await using var reader = await cmd.ExecuteReaderAsync();
            while (await reader.ReadAsync()) ids.Add(reader.GetInt32(0));
            return ids;
        }
        finally
        {
            PgTestCluster.RunAsServerUser(Path.Combine(PgTestCluster.FindBinDirectory(), "pg_ctl"), "-D", options.DataDirectory, "-m", "immediate", "-w", "stop");
        }
    }

    public void Dispose()
    {
        foreach (var s in _streams) { try { s.Kill(); } catch (InvalidOperationException) { } }
        _temp.Dispose();
    }
}
