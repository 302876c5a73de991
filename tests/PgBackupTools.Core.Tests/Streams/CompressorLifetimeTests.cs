using PgBackupTools.Core.Streams;

namespace PgBackupTools.Core.Tests.Streams;

public class CompressorLifetimeTests
{
    public static TheoryData<CompressionKind, bool> KindsAndLeaveOpen()
    {
        var cases = new TheoryData<CompressionKind, bool>();
        foreach (var kind in Enum.GetValues<CompressionKind>())
        {
            cases.Add(kind, true);
            cases.Add(kind, false);
        }
        return cases;
    }

    [Theory]
    [MemberData(nameof(KindsAndLeaveOpen))]
    public void The_compressor_honours_leave_open(CompressionKind kind, bool leaveOpen)
    {
        var output = new MemoryStream();
        using (var compressor = Compression.CreateCompressor(output, kind, leaveOpen: leaveOpen))
            compressor.Write("hello"u8);
        Assert.Equal(leaveOpen, output.CanWrite);
    }

    [Theory]
    [MemberData(nameof(KindsAndLeaveOpen))]
    public async Task The_compressor_honours_leave_open_when_disposed_asynchronously(CompressionKind kind, bool leaveOpen)
    {
        var output = new MemoryStream();
        await using (var compressor = Compression.CreateCompressor(output, kind, leaveOpen: leaveOpen))
            await compressor.WriteAsync("hello"u8.ToArray());
        Assert.Equal(leaveOpen, output.CanWrite);
    }

    [Theory]
    [MemberData(nameof(KindsAndLeaveOpen))]
    public void The_decompressor_honours_leave_open(CompressionKind kind, bool leaveOpen)
    {
        var stored = new MemoryStream();
        using (var compressor = Compression.CreateCompressor(stored, kind, leaveOpen: true))
            compressor.Write("hello"u8);
        stored.Position = 0;
        using (var decompressor = Compression.CreateDecompressor(stored, kind, leaveOpen))
            Assert.Equal("hello"u8.ToArray(), TestData.ReadAll(decompressor));
        Assert.Equal(leaveOpen, stored.CanRead);
    }

    [Theory]
    [InlineData(CompressionKind.None)]
    [InlineData(CompressionKind.Gzip)]
    [InlineData(CompressionKind.Zstd)]
    [InlineData(CompressionKind.Lz4)]
    public async Task Dispose_is_idempotent_in_every_combination(CompressionKind kind)
    {
        var stored = new MemoryStream();
        var compressor = Compression.CreateCompressor(stored, kind, leaveOpen: true);
        compressor.Write(TestData.DumpText(50_000));
        compressor.Dispose();
        long length = stored.Length;
        compressor.Dispose();
        await compressor.DisposeAsync();
        Assert.Equal(length, stored.Length); // the trailer is written once
        Assert.False(compressor.CanWrite);
        Assert.Throws<ObjectDisposedException>(() => compressor.Write([1]));

        var other = Compression.CreateCompressor(new MemoryStream(), kind);
        await other.DisposeAsync();
        await other.DisposeAsync();
        other.Dispose();
    }

    [Theory]
    [InlineData(CompressionKind.None)]
    [InlineData(CompressionKind.Gzip)]
    [InlineData(CompressionKind.Zstd)]
    [InlineData(CompressionKind.Lz4)]
    public void Compressors_are_write_only_and_not_seekable(CompressionKind kind)
    {
        using var compressor = Compression.CreateCompressor(new MemoryStream(), kind);
        Assert.True(compressor.CanWrite);
        Assert.False(compressor.CanRead);
        Assert.False(compressor.CanSeek);
        Assert.Throws<NotSupportedException>(() => compressor.Position);
        Assert.Throws<NotSupportedException>(() => compressor.Read(new byte[1], 0, 1));
    }

    [Theory]
    [InlineData(CompressionKind.Gzip)]
    [InlineData(CompressionKind.Zstd)]
    [InlineData(CompressionKind.Lz4)]
    public void A_truncated_file_does_not_read_as_complete(CompressionKind kind)
    {
        var data = TestData.DumpText(2_000_000);
        var stored = new MemoryStream();
        using (var compressor = Compression.CreateCompressor(stored, kind, leaveOpen: true))
            compressor.Write(data);
        foreach (int cut in new[] { 1, 6, 100, (int)stored.Length / 2 })
        {
            var truncated = new MemoryStream(stored.ToArray(), 0, (int)stored.Length - cut);
            using var decompressor = Compression.CreateDecompressor(truncated, kind);
            Assert.ThrowsAny<Exception>(() => TestData.ReadAll(decompressor));
        }
    }

    [Fact]
    public void Gzip_truncation_detection_is_active_on_this_runtime()
    {
        Assert.True(GzipDecompressor.DetectsTruncation, "GZipStream internals changed: truncated gzip would read as complete");
    }

    [Theory]
    [InlineData(CompressionKind.Gzip)]
    [InlineData(CompressionKind.Zstd)]
    [InlineData(CompressionKind.Lz4)]
    public void An_empty_file_is_not_a_compressed_empty_stream(CompressionKind kind)
    {
        using var decompressor = Compression.CreateDecompressor(new MemoryStream(), kind);
        Assert.ThrowsAny<Exception>(() => TestData.ReadAll(decompressor));
    }

    [Fact]
    public void Arguments_are_checked()
    {
        Assert.Throws<ArgumentNullException>(() => Compression.CreateCompressor(null!, CompressionKind.Gzip));
        Assert.Throws<ArgumentNullException>(() => Compression.CreateDecompressor(null!, CompressionKind.Gzip));
        Assert.Throws<ArgumentException>(() => Compression.CreateCompressor(new MemoryStream([], writable: false), CompressionKind.Zstd));
        Assert.Throws<ArgumentOutOfRangeException>(() => Compression.CreateCompressor(new MemoryStream(), (CompressionKind)9));
    }
}
