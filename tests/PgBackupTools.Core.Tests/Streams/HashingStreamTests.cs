using System.Security.Cryptography;
using PgBackupTools.Core.Streams;

namespace PgBackupTools.Core.Tests.Streams;

public class HashingStreamTests
{
    private static string Sha256Hex(ReadOnlySpan<byte> data) => Convert.ToHexString(SHA256.HashData(data)).ToLowerInvariant();

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(3_000_001)]
    public void Writing_through_hashes_and_counts_what_reached_the_inner_stream(int length)
    {
        var data = TestData.DumpText(length);
        var inner = new MemoryStream();
        var hashing = new HashingStream(inner, leaveOpen: true);
        TestData.WriteInOddChunks(hashing, data);

        Assert.Equal(data.Length, hashing.Length);
        Assert.Equal(Sha256Hex(data), hashing.Sha256Hex);
        Bytes.AssertSame(data, inner.ToArray());
    }

    [Fact]
    public void Reading_through_hashes_and_counts_what_was_read()
    {
        var data = TestData.Random(2_500_000);
        using var hashing = new HashingStream(new MemoryStream(data));
        Assert.Equal(data[0], hashing.ReadByte());
        var rest = new MemoryStream();
        var buffer = new byte[7919];
        int n;
        for (int i = 0; (n = i % 2 == 0 ? hashing.Read(buffer, 0, buffer.Length) : hashing.Read(buffer.AsSpan(0, 1000))) > 0; i++)
            rest.Write(buffer, 0, n);
        Assert.Equal(-1, hashing.ReadByte());

        Bytes.AssertSame(data.AsSpan(1), rest.ToArray());
        Assert.Equal(data.Length, hashing.Length);
        Assert.Equal(Sha256Hex(data), hashing.Sha256Hex);
    }

    [Fact]
    public async Task Async_reads_and_writes_hash_the_same()
    {
        var data = TestData.DumpText(1_000_000);
        var inner = new MemoryStream();
        await using (var writing = new HashingStream(inner, leaveOpen: true))
        {
            await TestData.WriteInOddChunksAsync(writing, data);
            Assert.Equal(Sha256Hex(data), writing.Sha256Hex);
        }

        inner.Position = 0;
        await using var reading = new HashingStream(inner);
        await reading.CopyToAsync(Stream.Null);
        Assert.Equal(Sha256Hex(data), reading.Sha256Hex);
        Assert.Equal(data.Length, reading.Length);
    }

    [Fact]
    public void The_empty_stream_has_the_sha256_of_nothing()
    {
        using var hashing = new HashingStream(new MemoryStream());
        Assert.Equal("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", hashing.Sha256Hex);
        Assert.Equal(0, hashing.Length);
    }

    [Fact]
    public void After_the_hash_is_read_no_more_data_may_pass()
    {
        var inner = new MemoryStream();
        using var hashing = new HashingStream(inner);
        hashing.Write("abc"u8);
        var hex = hashing.Sha256Hex;
        Assert.Throws<InvalidOperationException>(() => hashing.Write("d"u8));
        Assert.Throws<InvalidOperationException>(() => hashing.Read(new byte[1], 0, 1));
        Assert.Equal(3, inner.Length); // the refused byte did not reach the inner stream
        Assert.Equal(hex, hashing.Sha256Hex);
        Assert.Equal(Sha256Hex("abc"u8), hex);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Dispose_finalizes_the_hash_and_honours_leave_open(bool leaveOpen)
    {
        var inner = new MemoryStream();
        var hashing = new HashingStream(inner, leaveOpen);
        using (hashing)
            hashing.Write("hello"u8);
        hashing.Dispose();
        Assert.Equal(Sha256Hex("hello"u8), hashing.Sha256Hex);
        Assert.Equal(5, hashing.Length);
        Assert.Equal(leaveOpen, inner.CanWrite);
        Assert.Throws<ObjectDisposedException>(() => hashing.Write("x"u8));
    }

    [Fact]
    public void It_is_not_seekable_and_follows_the_inner_direction()
    {
        using var reading = new HashingStream(new MemoryStream([1, 2, 3], writable: false));
        Assert.True(reading.CanRead);
        Assert.False(reading.CanWrite);
        Assert.False(reading.CanSeek);
        Assert.Throws<NotSupportedException>(() => reading.Seek(0, SeekOrigin.Begin));
    }

    [Theory]
    [InlineData(CompressionKind.Gzip)]
    [InlineData(CompressionKind.Zstd)]
    public void Hashing_the_raw_and_the_stored_bytes_around_a_compressor(CompressionKind kind)
    {
        // The backup pipeline: raw bytes -> hash -> compress -> hash -> file. Both hashes go into the manifest.
        var data = TestData.DumpText(2_000_000);
        var file = new MemoryStream();
        var stored = new HashingStream(file, leaveOpen: true);
        var raw = new HashingStream(Compression.CreateCompressor(stored, kind));
        using (raw)
            TestData.WriteInOddChunks(raw, data);

        Assert.Equal(Sha256Hex(data), raw.Sha256Hex);
        Assert.Equal(data.Length, raw.Length);
        Assert.Equal(Sha256Hex(file.ToArray()), stored.Sha256Hex);
        Assert.Equal(file.Length, stored.Length);
    }
}
