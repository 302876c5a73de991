using System.Security.Cryptography;
using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Streams;
using PgBackupTools.Core.Wal;

namespace PgBackupTools.Core.Tests.Wal;

/// <summary>Push, re-push, conflict, fetch, verification, prefetch and continuity on real segments of a real cluster.</summary>
[Collection("cluster")]
public sealed class WalArchiveTests(ClusterFixture fixture) : IDisposable
{
    private readonly TempDirectory _temp = new();
    private string Dir(string name) => Directory.CreateDirectory(Path.Combine(_temp.Path, name)).FullName;

    private async Task<WalArchive> NewArchiveAsync() => new(await WalTestSegments.NewRepositoryAsync(Dir("repo")), "main");

    [Fact]
    public async Task The_long_page_header_gives_the_clusters_system_identifier_and_segment_size()
    {
        var segment = WalTestSegments.CopyCompleted(fixture.Cluster, Dir("src"), 1)[0];
        var header = WalPageHeader.Parse(File.ReadAllBytes(segment).AsSpan(0, WalPageHeader.Length), segment);
        Assert.Equal(fixture.Cluster.Psql("SELECT system_identifier FROM pg_control_system()"), header.SystemIdentifier.ToString());
        Assert.Equal(16u << 20, header.SegmentSize);
        Assert.Equal(int.Parse(fixture.Cluster.Psql("SHOW server_version_num")) / 10000, header.PostgresMajorVersion);
    }

    [Fact]
    public async Task A_segment_pushed_twice_with_the_same_bytes_succeeds_and_with_other_bytes_is_refused_and_the_first_is_kept()
    {
        var archive = await NewArchiveAsync();
        var segment = WalTestSegments.CopyCompleted(fixture.Cluster, Dir("src"), 1)[0];
        var first = await archive.PushAsync(segment, new WalPushOptions(), OperationContext.None);
        Assert.False(first.AlreadyArchived);
        Assert.Equal(Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(segment))).ToLowerInvariant(), first.Sha256);
        Assert.Equal($"wal/main/00000001/{Path.GetFileName(segment)}.zst", first.Key);
        Assert.True(first.StoredBytes < first.Bytes);
        string stored = archive.Repository.Store.TryGetLocalPath(first.Key)!;
        var storedBefore = File.ReadAllBytes(stored);

        var again = await archive.PushAsync(segment, new WalPushOptions { Compression = CompressionKind.Gzip }, OperationContext.None);
        Assert.True(again.AlreadyArchived);
        Assert.Equal(first.Key, again.Key); // found under its zstd name, not pushed again as .gz

        var changed = Path.Combine(Dir("other"), Path.GetFileName(segment));
        var bytes = File.ReadAllBytes(segment);
        bytes[bytes.Length - 100] ^= 0xFF;
        File.WriteAllBytes(changed, bytes);
        var conflict = await Assert.ThrowsAsync<WalConflictException>(() => archive.PushAsync(changed, new WalPushOptions(), OperationContext.None));
        Assert.Equal(FailureKind.AlreadyExists, conflict.Kind);
        Assert.Equal(storedBefore, File.ReadAllBytes(stored));
        Assert.Single(Directory.GetFiles(Path.GetDirectoryName(stored)!)); // nothing beside it, no temp left

        var fetched = Path.Combine(Dir("dst"), "RECOVERYXLOG");
        Assert.NotNull(await archive.GetAsync(Path.GetFileName(segment), fetched, new WalGetOptions(), OperationContext.None));
        Assert.Equal(File.ReadAllBytes(segment), File.ReadAllBytes(fetched));
    }

    [Fact]
    public async Task A_pushed_segment_is_one_zstd_frame_per_MiB_that_zstd_decodes_without_the_tool()
    {
        var archive = await NewArchiveAsync();
        var segment = WalTestSegments.CopyCompleted(fixture.Cluster, Dir("src"), 1)[0];
        var pushed = await archive.PushAsync(segment, new WalPushOptions(), OperationContext.None);
        // The recipe of WalObjectHeader's documentation: the body after the 56-byte header is a zstd stream.
        string body = Path.Combine(Dir("cli"), "body.zst");
        await File.WriteAllBytesAsync(body, File.ReadAllBytes(archive.Repository.Store.TryGetLocalPath(pushed.Key)!)[WalObjectHeader.Length..]);
        Assert.Equal(File.ReadAllBytes(segment), Streams.Cli.Run("/usr/bin/zstd", "-dc", body));
        string listing = System.Text.Encoding.UTF8.GetString(Streams.Cli.Run("/usr/bin/zstd", "-lv", body));
        Assert.Contains($"# Zstandard Frames: {new FileInfo(segment).Length / WalZstdFrames.FrameSize}", listing);
        Assert.Contains("Check: XXH64", listing);
    }

    [Theory]
    [InlineData("../x")]
    [InlineData("garbage")]
    [InlineData("00000001000000000000000G")]
    [InlineData("000000010000000000000001/../../repository.json")]
    [InlineData("00000000.history")]
    public async Task Bad_file_names_are_refused_by_push_and_get(string name)
    {
        var archive = await NewArchiveAsync();
        var src = Path.Combine(Dir("src"), "f");
        File.WriteAllBytes(src, new byte[100]);
        var e1 = await Assert.ThrowsAsync<PgBackupException>(() => archive.PushAsync(Path.Combine(Path.GetDirectoryName(src)!, name), new WalPushOptions(), OperationContext.None));
        Assert.Equal(FailureKind.InvalidArgument, e1.Kind);
        var e2 = await Assert.ThrowsAsync<PgBackupException>(() => archive.GetAsync(name, Path.Combine(Dir("dst"), "RECOVERYXLOG"), new WalGetOptions(), OperationContext.None));
        Assert.Equal(FailureKind.InvalidArgument, e2.Kind);
    }

    [Theory]
    [InlineData("../../escaped")]
    [InlineData("..")]
    [InlineData("a/b")]
    [InlineData("main\nx")]
    [InlineData("x y")]
    [InlineData("\u00e9t\u00e9")]
    public async Task A_hostile_stanza_is_refused_by_pgbt_wal_push_and_get_and_nothing_is_written_anywhere(string stanza)
    {
        var archive = await NewArchiveAsync();
        var segment = WalTestSegments.CopyCompleted(fixture.Cluster, Dir("src"), 1)[0];
        string repo = archive.Repository.Location;
        var before = Directory.GetFileSystemEntries(_temp.Path, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToList();

        Assert.Throws<PgBackupException>(() => new WalArchive(archive.Repository, stanza));
        Assert.Throws<PgBackupException>(() => new WalArchive(archive.Repository, stanza + "\0")); // a NUL never reaches a process argument
        var (push, pushErr) = WalTestSegments.RunEntryPoint("push", segment, "--repo", repo, "--stanza", stanza);
        Assert.NotEqual(0, push);
        Assert.Contains("stanza", pushErr);
        var (get, _) = WalTestSegments.RunEntryPoint("get", Path.GetFileName(segment), Path.Combine(Dir("dst"), "RECOVERYXLOG"), "--repo", repo, "--stanza", stanza);
        Assert.NotEqual(0, get);
        Assert.NotEqual(1, get); // not "absent": a misconfigured restore_command must not end recovery as if the archive ended

        var after = Directory.GetFileSystemEntries(_temp.Path, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(before.Append(Path.Combine(_temp.Path, "dst")).Order(StringComparer.Ordinal).Distinct(), after);
    }

    [Fact]
    public async Task A_file_that_is_not_a_wal_segment_is_refused_even_with_a_segment_name()
    {
        var archive = await NewArchiveAsync();
        var fake = Path.Combine(Dir("src"), "000000010000000000000001");
        File.WriteAllBytes(fake, new byte[16 << 20]);
        var e = await Assert.ThrowsAsync<PgBackupException>(() => archive.PushAsync(fake, new WalPushOptions(), OperationContext.None));
        Assert.Equal(FailureKind.InvalidData, e.Kind);
        // A real segment under another segment's name (a renamed file) is refused too.
        var real = WalTestSegments.CopyCompleted(fixture.Cluster, Dir("real"), 1)[0];
        // (A name no segment of the fixture's cluster reaches: run alone, its first completed segment is ...0001 itself.)
        var renamed = Path.Combine(Dir("renamed"), "00000001000000FF000000FF");
        File.Copy(real, renamed);
        e = await Assert.ThrowsAsync<PgBackupException>(() => archive.PushAsync(renamed, new WalPushOptions(), OperationContext.None));
        Assert.Contains("renamed", e.Message);
        // Both positions as PostgreSQL prints an LSN (high/low 32 bits in hex), and the segment the content really is.
        var realName = WalFileName.Parse(Path.GetFileName(real));
        string realLsn = PgBackupTools.Core.Backup.Lsn.Format(realName.SegmentNumber(16 << 20) * (16UL << 20));
        Assert.Contains($"is named 00000001000000FF000000FF (WAL position FF/FF000000) but its first page belongs to WAL position {realLsn} (segment {realName.Name})", e.Message);
        Assert.Matches("^[0-9A-F]+/[0-9A-F]+$", realLsn);
        Assert.Empty(await archive.ListAsync(CancellationToken.None));
    }

    [Fact]
    public async Task Get_of_a_file_that_is_not_archived_returns_nothing_and_creates_nothing()
    {
        var archive = await NewArchiveAsync();
        var dest = Path.Combine(Dir("dst"), "RECOVERYXLOG");
        Assert.Null(await archive.GetAsync("00000002.history", dest, new WalGetOptions { Prefetch = 4 }, OperationContext.None));
        Assert.Null(await archive.GetAsync("000000010000000000000042", dest, new WalGetOptions { Prefetch = 4 }, OperationContext.None));
        Assert.False(File.Exists(dest));
    }

    [Fact]
    public async Task On_the_local_file_system_a_file_that_is_not_archived_is_looked_up_by_stat_never_by_listing_its_timeline()
    {
        // A listing here would read the timeline's directory, thousands of segments, on every restore_command.
        var segment = WalTestSegments.CopyCompleted(fixture.Cluster, Dir("src"), 1)[0];
        var counting = new Storage.CountingStore(new Core.Storage.FileSystemStore(Dir("repo")));
        using var repo = await Core.Repository.BackupRepository.OpenAsync(counting, create: true, CancellationToken.None);
        var archive = new WalArchive(repo, "main");
        await archive.PushAsync(segment, new WalPushOptions(), OperationContext.None);
        counting.Reset();
        var dest = Path.Combine(Dir("dst"), "RECOVERYXLOG");
        Assert.Null(await archive.GetAsync("000000010000000000000042", dest, new WalGetOptions { Prefetch = 4 }, OperationContext.None));
        Assert.False(File.Exists(dest));
        Assert.Equal(0, counting.Count("list"));
        Assert.Equal(2 * 4, counting.Count("info")); // the segment and its .partial, under each extension
        Assert.Equal(counting.Calls.Count, counting.Count("info"));
    }

    [Theory]
    [InlineData(CompressionKind.None)]
    [InlineData(CompressionKind.Zstd)]
    [InlineData(CompressionKind.Gzip)]
    public async Task Get_verifies_the_checksum_and_a_damaged_object_creates_no_destination(CompressionKind compression)
    {
        var archive = await NewArchiveAsync();
        var segment = WalTestSegments.CopyCompleted(fixture.Cluster, Dir("src"), 1)[0];
        var pushed = await archive.PushAsync(segment, new WalPushOptions { Compression = compression }, OperationContext.None);
        string stored = archive.Repository.Store.TryGetLocalPath(pushed.Key)!;
        var bytes = File.ReadAllBytes(stored);
        // 32 bytes, not one: a single flipped bit can land where a codec ignores it (an unused Huffman code length)
        // and the output is then still exactly right, as the SHA-256 check rightly accepts.
        int middle = WalObjectHeader.Length + (bytes.Length - WalObjectHeader.Length) / 2;
        for (int i = middle; i < middle + 32; i++) bytes[i] ^= 0x5A;
        File.WriteAllBytes(stored, bytes);

        var dest = Path.Combine(Dir("dst"), "RECOVERYXLOG");
        var e = await Assert.ThrowsAsync<WalChecksumException>(() => archive.GetAsync(pushed.Name, dest, new WalGetOptions(), OperationContext.None));
        Assert.Equal(FailureKind.InvalidData, e.Kind);
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(dest)!));
        // restore_command: exit 126, so PostgreSQL stops recovery instead of taking the damage for the end of the archive.
        var (code, stderr) = WalTestSegments.RunEntryPoint("get", pushed.Name, dest, "--repo", archive.Repository.Location);
        Assert.Equal(126, code);
        Assert.Contains("damaged", stderr);
        Assert.False(File.Exists(dest));
    }

    [Fact]
    public async Task A_get_that_fails_in_a_targeted_recovery_is_retried_then_stops_recovery_while_a_standby_just_polls_again()
    {
        var archive = await NewArchiveAsync();
        var segment = WalTestSegments.CopyCompleted(fixture.Cluster, Dir("src"), 1)[0];
        var pushed = await archive.PushAsync(segment, new WalPushOptions(), OperationContext.None);
        // The destination's directory is missing: the get fails (as a store outage would), it does not find "nothing".
        string broken = Path.Combine(Dir("dst"), "missing", "RECOVERYXLOG");
        string[] get = ["get", pushed.Name, broken, "--repo", archive.Repository.Location];

        string recovering = Dir("data-recovery");
        File.WriteAllText(Path.Combine(recovering, "recovery.signal"), "");
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var (code, stderr) = WalTestSegments.RunEntryPointIn(recovering, get);
        Assert.Equal(126, code); // PostgreSQL stops recovery instead of promoting without this segment
        Assert.True(watch.Elapsed >= TimeSpan.FromSeconds(5), $"tried again after 1 s and 4 s, returned after {watch.Elapsed}");
        Assert.Equal(3, stderr.Split('\n').Count(l => l.Contains("Cannot write " + broken, StringComparison.Ordinal))); // three attempts
        Assert.Contains("recovery stops here rather than end early", stderr);

        string standby = Dir("data-standby");
        File.WriteAllText(Path.Combine(standby, "recovery.signal"), "");
        File.WriteAllText(Path.Combine(standby, "standby.signal"), "");
        (code, stderr) = WalTestSegments.RunEntryPointIn(standby, get);
        Assert.Equal(2, code); // a standby polls again on its own
        Assert.DoesNotContain("recovery stops", stderr);

        // A name that is not archived stays the quiet "not found" in a recovery: that is how recovery learns where the archive ends.
        (code, _) = WalTestSegments.RunEntryPointIn(recovering, "get", "0000000100000000000000FE", Path.Combine(Dir("dst"), "RECOVERYXLOG"), "--repo", archive.Repository.Location);
        Assert.Equal(1, code);
    }

    [Fact]
    public async Task Prefetch_serves_the_next_segments_from_the_spool_and_never_a_damaged_one()
    {
        var archive = await NewArchiveAsync();
        var segments = WalTestSegments.CopyCompleted(fixture.Cluster, Dir("src"), 3);
        foreach (var s in segments) await archive.PushAsync(s, new WalPushOptions(), OperationContext.None);
        string pgWal = Dir("pg_wal"), dest = Path.Combine(pgWal, "RECOVERYXLOG"), spool = Path.Combine(pgWal, WalArchive.SpoolFolderName);
        var options = new WalGetOptions { Prefetch = 4 };
        string[] names = segments.Select(Path.GetFileName).ToArray()!;

        var r0 = await archive.GetAsync(names[0], dest, options, OperationContext.None);
        Assert.False(r0!.Prefetched);
        Assert.Equal(File.ReadAllBytes(segments[0]), File.ReadAllBytes(dest));
        Assert.Equal(names[1..], Directory.GetFiles(spool).Select(Path.GetFileName).Order().ToArray()); // only what exists

        // Damage the spooled copy of the second: it must be fetched from the archive again, not served.
        var spooled = Path.Combine(spool, names[1]);
        var bytes = File.ReadAllBytes(spooled);
        bytes[12345] ^= 1;
        File.WriteAllBytes(spooled, bytes);
        var r1 = await archive.GetAsync(names[1], dest, options, OperationContext.None);
        Assert.False(r1!.Prefetched);
        Assert.Equal(File.ReadAllBytes(segments[1]), File.ReadAllBytes(dest));

        var r2 = await archive.GetAsync(names[2], dest, options, OperationContext.None);
        Assert.True(r2!.Prefetched);
        Assert.Equal(File.ReadAllBytes(segments[2]), File.ReadAllBytes(dest));
        Assert.Empty(Directory.GetFiles(spool)); // consumed; nothing further is archived
    }

    [Fact]
    public async Task The_continuity_check_names_a_segment_deleted_from_the_middle()
    {
        var archive = await NewArchiveAsync();
        var segments = WalTestSegments.CopyCompleted(fixture.Cluster, Dir("src"), 4);
        var pushed = new List<PgWalSegment>();
        foreach (var s in segments) pushed.Add(await archive.PushAsync(s, new WalPushOptions(), OperationContext.None));
        var whole = await archive.CheckContinuityAsync(null, CancellationToken.None);
        Assert.True(whole.Passed, string.Join(" ", whole.Problems));
        Assert.Equal(4, whole.SegmentsFound);

        await archive.Repository.Store.DeleteAsync(pushed[2].Key, CancellationToken.None);
        var report = await archive.CheckContinuityAsync(null, CancellationToken.None);
        Assert.False(report.Passed);
        var gap = Assert.Single(report.MissingRanges);
        Assert.Equal(pushed[2].Name, gap.First);
        Assert.Equal(1, gap.Count);
        Assert.Contains(report.Problems, p => p.Contains(pushed[2].Name));

        // From a start before the oldest archived segment (as from a backup's start LSN), the missing head is named too.
        await archive.Repository.Store.DeleteAsync(pushed[0].Key, CancellationToken.None);
        Assert.Single((await archive.CheckContinuityAsync(null, CancellationToken.None)).MissingRanges);
        var fromStart = await archive.CheckContinuityAsync(pushed[0].Name, CancellationToken.None);
        Assert.Equal([pushed[0].Name, pushed[2].Name], fromStart.MissingRanges.Select(g => g.First).ToArray());
        Assert.False(fromStart.Passed);
    }

    [Fact]
    public async Task Of_two_concurrent_pushes_of_one_name_with_different_bytes_exactly_one_wins()
    {
        var segment = WalTestSegments.CopyCompleted(fixture.Cluster, Dir("src"), 1)[0];
        var bytes = File.ReadAllBytes(segment);
        bytes[^1] ^= 1;
        var other = Path.Combine(Dir("other"), Path.GetFileName(segment));
        File.WriteAllBytes(other, bytes);
        for (int round = 0; round < 5; round++)
        {
            var archive = new WalArchive(await WalTestSegments.NewRepositoryAsync(Dir("race" + round)), "main");
            var a = Task.Run(() => archive.PushAsync(segment, new WalPushOptions(), OperationContext.None));
            var b = Task.Run(() => archive.PushAsync(other, new WalPushOptions(), OperationContext.None));
            var outcomes = await Task.WhenAll(Outcome(a), Outcome(b));
            var winner = Assert.Single(outcomes, o => o.Segment is not null).Segment!;
            Assert.IsType<WalConflictException>(Assert.Single(outcomes, o => o.Error is not null).Error);
            var fetched = Path.Combine(Dir("dst" + round), "X");
            await archive.GetAsync(winner.Name, fetched, new WalGetOptions(), OperationContext.None);
            Assert.Equal(winner.Sha256, Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(fetched))).ToLowerInvariant());
        }

        static async Task<(PgWalSegment? Segment, Exception? Error)> Outcome(Task<PgWalSegment> push)
        {
            try { return (await push, null); }
            catch (Exception e) { return (null, e); }
        }
    }

    [Fact]
    public async Task A_push_killed_at_any_moment_leaves_no_segment_or_the_whole_segment_and_the_retry_succeeds()
    {
        var segment = WalTestSegments.CopyCompleted(fixture.Cluster, Dir("src"), 1)[0];
        var bytes = File.ReadAllBytes(segment);
        string name = Path.GetFileName(segment);
        // SIGKILL at spread-out moments of pgbt-wal's life: before, while and after the temp object is written.
        int[] delaysMs = [0, 5, 15, 30, 50, 80, 120, 180, 260, 400];
        int sawWhole = 0, sawNothing = 0;
        foreach (int delay in delaysMs)
        {
            string repoPath = Dir("killed" + delay);
            var archive = new WalArchive(await WalTestSegments.NewRepositoryAsync(repoPath), "main");
            var psi = new System.Diagnostics.ProcessStartInfo(WalTestSegments.EntryPoint) { UseShellExecute = false, RedirectStandardError = true };
            foreach (var a in new[] { "push", segment, "--repo", repoPath }) psi.ArgumentList.Add(a);
            using (var push = System.Diagnostics.Process.Start(psi)!)
            {
                await Task.Delay(delay);
                try { push.Kill(); } catch (InvalidOperationException) { } // it may have finished
                await push.WaitForExitAsync();
            }
            // Whatever the moment, the name is absent or holds exactly the segment; temp files are never visible.
            if (await archive.ContainsAsync(name, CancellationToken.None))
            {
                Assert.Equal(bytes, await archive.ReadBytesAsync(WalFileName.Parse(name), CancellationToken.None));
                sawWhole++;
            }
            else
            {
                Assert.Null(await archive.GetAsync(name, Path.Combine(Dir("get" + delay), "X"), new WalGetOptions(), OperationContext.None));
                sawNothing++;
            }
            Assert.All(await archive.ListAsync(CancellationToken.None), f => Assert.Equal(name, f.Name.Name));

            // PostgreSQL retries the same file: it succeeds (archived now, or already archived by the killed run).
            var (code, stderr) = WalTestSegments.RunEntryPoint("push", segment, "--repo", repoPath);
            Assert.True(code == 0, stderr);
            Assert.Equal(bytes, await archive.ReadBytesAsync(WalFileName.Parse(name), CancellationToken.None));
        }
        Assert.True(sawNothing > 0, $"no kill landed before the commit ({sawWhole} of {delaysMs.Length} runs had committed)"); // the 0 ms kill always does
    }

    [Fact]
    public async Task History_and_backup_label_files_are_archived_under_their_timeline_and_fetched_back()
    {
        var archive = await NewArchiveAsync();
        WalTestSegments.CopyCompleted(fixture.Cluster, Dir("seg"), 1).ForEach(s => archive.PushAsync(s, new WalPushOptions(), OperationContext.None).GetAwaiter().GetResult());
        var history = Path.Combine(Dir("src"), "00000002.history");
        File.WriteAllText(history, "1\t0/3000000\tno recovery target specified\n");
        var pushed = await archive.PushAsync(history, new WalPushOptions(), OperationContext.None);
        Assert.Equal("wal/main/00000002/00000002.history.zst", pushed.Key);
        Assert.True((await archive.PushAsync(history, new WalPushOptions(), OperationContext.None)).AlreadyArchived);
        var dest = Path.Combine(Dir("dst"), "RECOVERYHISTORY");
        Assert.NotNull(await archive.GetAsync("00000002.history", dest, new WalGetOptions { Prefetch = 4 }, OperationContext.None));
        Assert.Equal(File.ReadAllBytes(history), File.ReadAllBytes(dest));
    }

    [Fact]
    public async Task A_byte_flipped_anywhere_in_an_archived_history_file_never_hands_PostgreSQL_a_wrong_byte()
    {
        var archive = await NewArchiveAsync();
        WalTestSegments.CopyCompleted(fixture.Cluster, Dir("seg"), 1).ForEach(s => archive.PushAsync(s, new WalPushOptions(), OperationContext.None).GetAwaiter().GetResult());
        var history = Path.Combine(Dir("src"), "00000003.history");
        File.WriteAllText(history, "1\t0/3000000\tno recovery target specified\n2\t0/5000000\tbefore 2026-11-25 08:00:00+00\n");
        var pushed = await archive.PushAsync(history, new WalPushOptions(), OperationContext.None);
        string stored = archive.Repository.Store.TryGetLocalPath(pushed.Key)!;
        byte[] original = File.ReadAllBytes(stored), expected = File.ReadAllBytes(history);
        string dst = Dir("dst"), dest = Path.Combine(dst, "RECOVERYHISTORY");

        // Every byte of the object (header and body), flipped in turn: the timeline history PostgreSQL gets is exact or there is none.
        int refused = 0;
        for (int i = 0; i < original.Length; i++)
        {
            var damaged = (byte[])original.Clone();
            damaged[i] ^= 0xFF;
            File.WriteAllBytes(stored, damaged);
            try
            {
                Assert.NotNull(await archive.GetAsync("00000003.history", dest, new WalGetOptions(), OperationContext.None));
                Assert.Equal(expected, File.ReadAllBytes(dest));
                File.Delete(dest);
            }
            catch (PgBackupException e)
            {
                Assert.True(e.Kind == FailureKind.InvalidData, $"byte {i}: {e.Kind} {e.Message}");
                Assert.Empty(Directory.GetFiles(dst));
                refused++;
            }
        }
        Assert.True(refused > original.Length / 2, $"only {refused} of {original.Length} flips were refused");

        // restore_command stops recovery (126) rather than reporting the history as absent.
        var body = (byte[])original.Clone();
        body[^3] ^= 0xFF;
        File.WriteAllBytes(stored, body);
        Assert.Equal(126, WalTestSegments.RunEntryPoint("get", "00000003.history", dest, "--repo", archive.Repository.Location).Code);
        Assert.False(File.Exists(dest));
    }

    public void Dispose() => _temp.Dispose();
}
