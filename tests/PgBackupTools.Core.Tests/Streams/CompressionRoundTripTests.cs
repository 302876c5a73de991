using System.Collections.Concurrent;
using System.IO.Compression;
using PgBackupTools.Core.Streams;

namespace PgBackupTools.Core.Tests.Streams;

public class CompressionRoundTripTests
{
    private const int GzipBlock = ParallelGzipCompressor.DefaultBlockSize;
    private static readonly ConcurrentDictionary<string, byte[]> Payloads = new();

    public static TheoryData<CompressionKind, string> Cases()
    {
        var cases = new TheoryData<CompressionKind, string>();
        foreach (var kind in Enum.GetValues<CompressionKind>())
            foreach (var payload in new[] { "empty", "1 byte", "one block", "block - 1", "block + 1", "random 5 MB", "dump text 6 MB" })
                cases.Add(kind, payload);
        return cases;
    }

    internal static byte[] Payload(string name) => Payloads.GetOrAdd(name, static n => n switch
    {
        "empty" => [],
        "1 byte" => [0x2A],
        "one block" => TestData.DumpText(GzipBlock),
        "block - 1" => TestData.DumpText(GzipBlock - 1),
        "block + 1" => TestData.DumpText(GzipBlock + 1),
        "random 5 MB" => TestData.Random(5_000_000),
        "dump text 6 MB" => TestData.DumpText(6_000_000),
        _ => throw new ArgumentException(n),
    });

    [Theory]
    [MemberData(nameof(Cases))]
    public void Bytes_written_in_odd_chunks_come_back_unchanged(CompressionKind kind, string payload)
    {
        var data = Payload(payload);
        var stored = new MemoryStream();
        using (var compressor = Compression.CreateCompressor(stored, kind, leaveOpen: true))
            TestData.WriteInOddChunks(compressor, data);

        if (kind != CompressionKind.None && data.Length > 100_000)
            Assert.NotEqual(data.Length, stored.Length);
        stored.Position = 0;
        using var decompressor = Compression.CreateDecompressor(stored, kind);
        Bytes.AssertSame(data, TestData.ReadAll(decompressor));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Bytes_written_asynchronously_come_back_unchanged(CompressionKind kind, string payload)
    {
        var data = Payload(payload);
        var stored = new MemoryStream();
        await using (var compressor = Compression.CreateCompressor(stored, kind, leaveOpen: true))
            await TestData.WriteInOddChunksAsync(compressor, data);

        stored.Position = 0;
        await using var decompressor = Compression.CreateDecompressor(stored, kind);
        var back = new MemoryStream();
        await decompressor.CopyToAsync(back);
        Bytes.AssertSame(data, back.ToArray());
    }

    [Theory]
    [InlineData(CompressionKind.None)]
    [InlineData(CompressionKind.Gzip)]
    [InlineData(CompressionKind.Zstd)]
    [InlineData(CompressionKind.Lz4)]
    public void Flush_in_the_middle_keeps_the_stream_whole(CompressionKind kind)
    {
        var data = TestData.DumpText(3_000_000);
        var stored = new MemoryStream();
        using (var compressor = Compression.CreateCompressor(stored, kind, leaveOpen: true))
        {
            compressor.Write(data, 0, 1_234_567);
            compressor.Flush();
            long afterFlush = stored.Length;
            compressor.Flush(); // nothing pending: a second flush must not break the format
            compressor.Write(data, 1_234_567, data.Length - 1_234_567);
            Assert.True(afterFlush > 0, "flush pushed nothing to the output");
        }
        stored.Position = 0;
        using var decompressor = Compression.CreateDecompressor(stored, kind);
        Bytes.AssertSame(data, TestData.ReadAll(decompressor));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(6)]
    [InlineData(7)]
    [InlineData(8)]
    [InlineData(9)]
    public void Every_gzip_level_round_trips(int level)
    {
        var data = TestData.DumpText(1_500_000);
        var stored = new MemoryStream();
        using (var compressor = Compression.CreateCompressor(stored, CompressionKind.Gzip, level, leaveOpen: true))
            compressor.Write(data);
        stored.Position = 0;
        using var gzip = new GZipStream(stored, CompressionMode.Decompress);
        Bytes.AssertSame(data, TestData.ReadAll(gzip));
    }

    [Fact]
    public void Gzip_levels_are_real_levels()
    {
        var data = TestData.DumpText(2_000_000);
        long Size(int level)
        {
            var stored = new MemoryStream();
            using (var compressor = Compression.CreateCompressor(stored, CompressionKind.Gzip, level, leaveOpen: true))
                compressor.Write(data);
            return stored.Length;
        }
        Assert.True(Size(0) > data.Length, "level 0 must store");
        Assert.True(Size(6) < Size(1), "level 6 must be smaller than level 1");
        if (GzipLevel.IsExact)
            Assert.NotEqual(Size(1), Size(2));
    }

    [Theory]
    [InlineData(CompressionKind.Zstd, -5)]
    [InlineData(CompressionKind.Zstd, 3)]
    [InlineData(CompressionKind.Zstd, 19)]
    [InlineData(CompressionKind.Lz4, 1)]
    [InlineData(CompressionKind.Lz4, 9)]
    [InlineData(CompressionKind.Lz4, 12)]
    public void Zstd_and_lz4_levels_round_trip(CompressionKind kind, int level)
    {
        var data = TestData.DumpText(1_000_000);
        var stored = new MemoryStream();
        using (var compressor = Compression.CreateCompressor(stored, kind, level, leaveOpen: true))
            TestData.WriteInOddChunks(compressor, data);
        stored.Position = 0;
        using var decompressor = Compression.CreateDecompressor(stored, kind);
        Bytes.AssertSame(data, TestData.ReadAll(decompressor));
    }

    [Theory]
    [InlineData(CompressionKind.Gzip, -1)]
    [InlineData(CompressionKind.Gzip, 10)]
    [InlineData(CompressionKind.Zstd, 23)]
    [InlineData(CompressionKind.Lz4, -1)]
    [InlineData(CompressionKind.Lz4, 13)]
    public void A_level_outside_the_codec_scale_is_refused(CompressionKind kind, int level)
    {
        var output = new MemoryStream();
        Assert.Throws<ArgumentOutOfRangeException>(() => Compression.CreateCompressor(output, kind, level));
        Assert.True(output.CanWrite, "a refused compressor must not dispose the output");
    }

    [Fact]
    public void File_extensions_name_the_format()
    {
        Assert.Equal("", Compression.FileExtension(CompressionKind.None));
        Assert.Equal(".gz", Compression.FileExtension(CompressionKind.Gzip));
        Assert.Equal(".zst", Compression.FileExtension(CompressionKind.Zstd));
        Assert.Equal(".lz4", Compression.FileExtension(CompressionKind.Lz4));
        Assert.Throws<ArgumentOutOfRangeException>(() => Compression.FileExtension((CompressionKind)42));
    }
}
