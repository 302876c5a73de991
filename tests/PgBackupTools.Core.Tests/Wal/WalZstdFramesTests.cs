using System.Security.Cryptography;
using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Streams;
using PgBackupTools.Core.Wal;

namespace PgBackupTools.Core.Tests.Wal;

/// <summary>The framed zstd body of archive_command pushes: concatenated one-shot frames that every zstd reader takes as one stream.</summary>
public sealed class WalZstdFramesTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    // Without libzstd pushes stream through ZstdSharp (the other WAL tests cover that); CI installs it.
    private static NativeZstd Engine() => WalZstdFrames.EngineFor(1) ?? throw new InvalidOperationException("libzstd is not installed: bash .ci/setup installs it");

    /// <summary>WAL-like bytes: records that compress, a run of zeros (the tail of a switched segment) and some noise.</summary>
    private static byte[] WalLike(int length)
    {
        var bytes = new byte[length];
        var random = new Random(length);
        for (int i = 0; i < length / 3; i += 64) System.Text.Encoding.ASCII.GetBytes($"INSERT {i:D12} {random.Next():X8} ").CopyTo(bytes, i);
        random.NextBytes(bytes.AsSpan(length - Math.Min(length, 300_000)));
        return bytes;
    }

    private static byte[] Decompress(IEnumerable<ReadOnlyMemory<byte>> frames)
    {
        var body = new MemoryStream();
        foreach (var frame in frames) body.Write(frame.Span);
        body.Position = 0;
        using var reader = Compression.CreateDecompressor(body, CompressionKind.Zstd);
        var output = new MemoryStream();
        reader.CopyTo(output);
        return output.ToArray();
    }

    [Theory]
    [InlineData(16 << 20)]             // a default segment: sixteen frames through four reused buffers
    [InlineData((9 << 20) + 12345)]    // a last frame shorter than the others
    [InlineData(1 << 20)]              // one frame, one buffer
    [InlineData((3 << 20) + 1)]        // fewer pieces than buffers
    [InlineData(0)]                    // an empty file still makes a valid (empty) frame
    public async Task A_file_read_in_pieces_decompresses_to_its_bytes_and_its_digest_is_the_files_sha256(int length)
    {
        var zstd = Engine();
        var bytes = WalLike(length);
        string path = Path.Combine(_temp.Path, "seg");
        File.WriteAllBytes(path, bytes);
        using var file = File.OpenHandle(path);
        var (digest, frames) = await WalZstdFrames.CompressFileAsync(zstd, file, path, length, 1,
            () => IncrementalHash.CreateHash(HashAlgorithmName.SHA256), CancellationToken.None);
        Assert.Equal(Math.Max(1, (length + WalZstdFrames.FrameSize - 1) / WalZstdFrames.FrameSize), frames.Length);
        Assert.Equal(SHA256.HashData(bytes), digest);
        Assert.Equal(bytes, Decompress(frames));
        Assert.True(length < 1 << 20 || frames.Sum(f => f.Length) < length / 2, "WAL-like data compresses");
    }

    [Fact]
    public async Task Bytes_in_memory_give_the_same_frames_as_the_file()
    {
        var zstd = Engine();
        var bytes = WalLike(16 << 20);
        var (digest, frames) = await WalZstdFrames.CompressAsync(zstd, bytes, 1, () => IncrementalHash.CreateHash(HashAlgorithmName.SHA256), CancellationToken.None);
        Assert.Equal(SHA256.HashData(bytes), digest);
        Assert.Equal(bytes, Decompress(frames));
    }

    [Fact]
    public async Task A_file_that_shrinks_while_it_is_read_is_refused_and_nothing_is_returned()
    {
        var zstd = Engine();
        string path = Path.Combine(_temp.Path, "short");
        File.WriteAllBytes(path, WalLike(10 << 20));
        using var file = File.OpenHandle(path);
        var e = await Assert.ThrowsAsync<PgBackupException>(() => WalZstdFrames.CompressFileAsync(zstd, file, path, 16 << 20, 1,
            () => IncrementalHash.CreateHash(HashAlgorithmName.SHA256), CancellationToken.None));
        Assert.Equal(FailureKind.InvalidData, e.Kind);
        Assert.Contains("shorter", e.Message);
    }

    [Fact]
    public async Task A_digest_that_fails_stops_the_reader_waiting_for_a_buffer_and_its_error_is_the_one_reported()
    {
        // More pieces than buffers: without the hashing freeing them, the reader would wait for a buffer forever.
        var zstd = Engine();
        string path = Path.Combine(_temp.Path, "seg");
        File.WriteAllBytes(path, WalLike(16 << 20));
        using var file = File.OpenHandle(path);
        var e = await Assert.ThrowsAsync<CryptographicException>(() => WalZstdFrames.CompressFileAsync(zstd, file, path, 16 << 20, 1,
            () => throw new CryptographicException("no digest here"), CancellationToken.None).WaitAsync(TimeSpan.FromMinutes(2)));
        Assert.Equal("no digest here", e.Message);
    }

    [Fact]
    public async Task A_cancelled_push_stops_reading()
    {
        var zstd = Engine();
        string path = Path.Combine(_temp.Path, "seg");
        File.WriteAllBytes(path, WalLike(16 << 20));
        using var file = File.OpenHandle(path);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => WalZstdFrames.CompressFileAsync(zstd, file, path, 16 << 20, 1,
            () => IncrementalHash.CreateHash(HashAlgorithmName.SHA256), new CancellationToken(canceled: true)).WaitAsync(TimeSpan.FromMinutes(2)));
    }

    [Fact]
    public void Levels_beyond_zstds_range_take_the_streaming_path_which_refuses_them()
    {
        Assert.Null(WalZstdFrames.EngineFor(ZstdCompressor.MaxLevel + 1));
        Assert.Null(WalZstdFrames.EngineFor(ZstdCompressor.MinLevel - 1));
    }

    public void Dispose() => _temp.Dispose();
}
