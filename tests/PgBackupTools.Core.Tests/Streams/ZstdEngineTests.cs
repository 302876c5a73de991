using PgBackupTools.Core.Streams;

namespace PgBackupTools.Core.Tests.Streams;

/// <summary>
/// Both zstd engines, the system's libzstd and the ZstdSharp port it falls back to, honour the same contract: a
/// standard frame `zstd -d` reads, at every worker count, flushes that decode, failures that write nothing more.
/// The other stream tests go through <see cref="Compression"/>, which picks libzstd on these machines.
/// </summary>
public sealed class ZstdEngineTests : IDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);
    private readonly string _dir = Directory.CreateTempSubdirectory("pgbt-zstd-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    public static TheoryData<string, int> EnginesAndWorkers()
    {
        var cases = new TheoryData<string, int>();
        foreach (var engine in new[] { "libzstd", "ZstdSharp" })
            foreach (var workers in new[] { 0, 1, 2 })
                cases.Add(engine, workers);
        return cases;
    }

    public static TheoryData<string> Engines() => new() { "libzstd", "ZstdSharp" };

    private static NativeZstd? Library(string engine) => engine == "libzstd"
        ? NativeZstd.Default ?? throw new InvalidOperationException("libzstd is not installed: bash .ci/setup installs it")
        : null;

    private static ZstdCompressor Create(string engine, Stream output, int workers = 2, int level = ZstdCompressor.DefaultLevel, bool leaveOpen = false)
        => ZstdCompressor.Create(output, level, leaveOpen, workers, Library(engine));

    [Fact]
    public void Libzstd_is_found_on_this_machine_and_compresses_by_default()
    {
        var library = NativeZstd.Default;
        Assert.NotNull(library); // .ci/setup installs libzstd1: without it every other test here would prove less
        Assert.True(library.Version >= 10400, $"libzstd {library.Version}");
        using var compressor = Assert.IsType<NativeZstdCompressor>(Compression.CreateCompressor(new MemoryStream(), CompressionKind.Zstd));
        Assert.StartsWith("libzstd 1.", compressor.Engine);
    }

    [Fact]
    public void Without_libzstd_the_managed_port_compresses_a_frame_zstd_reads()
    {
        // A name that loads nothing, and a library that loads but is not zstd: both mean "absent".
        Assert.Null(NativeZstd.Load(["libzstd-missing.so.99"]));
        Assert.Null(NativeZstd.Load(["libc.so.6"]));
        var data = TestData.DumpText(2_000_000);
        var file = Path.Combine(_dir, "fallback.zst");
        using (var compressor = ZstdCompressor.Create(File.Create(file), ZstdCompressor.DefaultLevel, leaveOpen: false, workers: null,
            NativeZstd.Load(["libzstd-missing.so.99"])))
        {
            Assert.IsType<ManagedZstdCompressor>(compressor);
            TestData.WriteInOddChunks(compressor, data);
        }
        Bytes.AssertSame(data, Cli.Run("/usr/bin/zstd", "-d", "-c", file));
    }

    [Theory]
    [MemberData(nameof(EnginesAndWorkers))]
    public void Zstd_reads_and_verifies_what_each_engine_writes(string engine, int workers)
    {
        var data = TestData.DumpText(7_000_000).Concat(TestData.Random(1_000_000)).ToArray();
        var file = Path.Combine(_dir, "ours.zst");
        using (var compressor = Create(engine, File.Create(file), workers))
        {
            Assert.Equal(workers, compressor.Workers);
            TestData.WriteInOddChunks(compressor, data);
        }

        Cli.Run("/usr/bin/zstd", "-t", file); // zstd's own check, content checksum included
        Bytes.AssertSame(data, Cli.Run("/usr/bin/zstd", "-d", "-c", file));
        using var decompressor = Compression.CreateDecompressor(File.OpenRead(file), CompressionKind.Zstd);
        Bytes.AssertSame(data, TestData.ReadAll(decompressor));
    }

    [Theory]
    [MemberData(nameof(Engines))]
    public async Task Async_writes_make_the_same_frame(string engine)
    {
        var data = TestData.DumpText(5_000_000);
        var file = Path.Combine(_dir, "async.zst");
        await using (var compressor = Create(engine, File.Create(file)))
            await TestData.WriteInOddChunksAsync(compressor, data);
        Bytes.AssertSame(data, Cli.Run("/usr/bin/zstd", "-d", "-c", file));
    }

    [Theory]
    [MemberData(nameof(Engines))]
    public void Nothing_written_is_still_a_frame(string engine)
    {
        var file = Path.Combine(_dir, "empty.zst");
        using (Create(engine, File.Create(file)))
        {
        }
        Assert.True(new FileInfo(file).Length > 0);
        Assert.Empty(Cli.Run("/usr/bin/zstd", "-d", "-c", file));
    }

    [Theory]
    [MemberData(nameof(Engines))]
    public async Task A_flush_makes_everything_so_far_decodable(string engine)
    {
        var data = TestData.DumpText(4_000_000);
        var stored = new MemoryStream();
        var compressor = Create(engine, stored, leaveOpen: true);
        compressor.Write(data, 0, 3_000_001);
        await compressor.FlushAsync();
        // zstd -d decodes a frame cut after a flush up to there, then reports "premature end": the frame is unfinished.
        var upToFlush = Path.Combine(_dir, "flushed.zst");
        File.WriteAllBytes(upToFlush, stored.ToArray());
        var error = Assert.Throws<InvalidOperationException>(() => Cli.Run("/usr/bin/zstd", "-d", "-c", upToFlush));
        Assert.Contains("premature end", error.Message);
        using (var partial = Compression.CreateDecompressor(new MemoryStream(stored.ToArray()), CompressionKind.Zstd))
        {
            var prefix = new byte[3_000_001];
            partial.ReadExactly(prefix);
            Bytes.AssertSame(data.AsSpan(0, 3_000_001), prefix);
        }

        compressor.Flush(); // nothing pending: the format stays whole
        compressor.Write(data, 3_000_001, data.Length - 3_000_001);
        compressor.Dispose();
        var whole = Path.Combine(_dir, "whole.zst");
        File.WriteAllBytes(whole, stored.ToArray());
        Bytes.AssertSame(data, Cli.Run("/usr/bin/zstd", "-d", "-c", whole));
    }

    [Theory]
    [MemberData(nameof(EnginesAndWorkers))]
    public async Task A_failing_output_fails_the_stream_and_gets_nothing_more(string engine, int workers)
    {
        var output = new FailingStream(acceptBytes: 300_000);
        var thrown = await Task.Run(() => Record.Exception(() =>
        {
            using var compressor = Create(engine, output, workers);
            TestData.WriteInOddChunks(compressor, TestData.Random(6_000_000));
        })).WaitAsync(Deadline);

        Assert.Contains("injected", Assert.IsType<IOException>(thrown).Message);
        Assert.Equal(1, output.FailedWrites); // no flush, no frame end after the failure
        Assert.True(output.Disposed);
    }

    [Theory]
    [MemberData(nameof(Engines))]
    public void Levels_beyond_the_budget_are_refused_before_any_work(string engine)
    {
        var output = new MemoryStream();
        Assert.Throws<ArgumentOutOfRangeException>(() => Create(engine, output, level: ZstdCompressor.MaxLevel + 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => Create(engine, output, workers: -1));
        Assert.Equal(0, output.Length);
    }

    [Theory]
    [InlineData(-5)]
    [InlineData(3)]
    [InlineData(19)]
    public void Both_engines_write_frames_the_other_side_reads_at_any_level(int level)
    {
        var data = TestData.DumpText(1_500_000);
        foreach (var engine in new[] { "libzstd", "ZstdSharp" })
        {
            var stored = new MemoryStream();
            using (var compressor = Create(engine, stored, level: level, leaveOpen: true))
                compressor.Write(data);
            stored.Position = 0;
            using var decompressor = Compression.CreateDecompressor(stored, CompressionKind.Zstd);
            Bytes.AssertSame(data, TestData.ReadAll(decompressor));
        }
    }
}
