// Interim single-threaded codecs until the streams branch lands; removed at that merge.
using System.IO.Compression;
using System.Security.Cryptography;
namespace PgBackupTools.Core.Streams;

public static class Compression
{
    public static Stream CreateCompressor(Stream output, CompressionKind kind, int? level = null, bool leaveOpen = false) => kind switch
    {
        CompressionKind.None => new HashingStream(output, leaveOpen),
        CompressionKind.Gzip => new GZipStream(output, CompressionLevel.Fastest, leaveOpen),
        CompressionKind.Zstd => new ZstdSharp.CompressionStream(output, level ?? 3, leaveOpen: leaveOpen),
        _ => throw new NotSupportedException(kind.ToString()),
    };
    public static Stream CreateDecompressor(Stream input, CompressionKind kind, bool leaveOpen = false) => kind switch
    {
        CompressionKind.None => new HashingStream(input, leaveOpen),
        CompressionKind.Gzip => new GZipStream(input, CompressionMode.Decompress, leaveOpen),
        CompressionKind.Zstd => new ZstdSharp.DecompressionStream(input, leaveOpen: leaveOpen),
        _ => throw new NotSupportedException(kind.ToString()),
    };
    public static string FileExtension(CompressionKind kind) => kind switch
    {
        CompressionKind.Gzip => ".gz", CompressionKind.Zstd => ".zst", CompressionKind.Lz4 => ".lz4", _ => "",
    };
}

public sealed class HashingStream : Stream
{
    private readonly Stream _inner; private readonly bool _leaveOpen;
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private long _length; private string? _hex;
    public HashingStream(Stream inner, bool leaveOpen = false) { _inner = inner; _leaveOpen = leaveOpen; }
    public override long Length => _length;
    public string Sha256Hex => _hex ??= Convert.ToHexString(_hash.GetHashAndReset()).ToLowerInvariant();
    public override bool CanRead => _inner.CanRead; public override bool CanWrite => _inner.CanWrite; public override bool CanSeek => false;
    public override long Position { get => _length; set => throw new NotSupportedException(); }
    public override void Flush() => _inner.Flush();
    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));
    public override int Read(Span<byte> buffer) { int n = _inner.Read(buffer); _hash.AppendData(buffer[..n]); _length += n; return n; }
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default) { int n = await _inner.ReadAsync(buffer, ct); _hash.AppendData(buffer.Span[..n]); _length += n; return n; }
    public override Task<int> ReadAsync(byte[] b, int o, int c, CancellationToken ct) => ReadAsync(b.AsMemory(o, c), ct).AsTask();
    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
    public override void Write(ReadOnlySpan<byte> buffer) { _hash.AppendData(buffer); _length += buffer.Length; _inner.Write(buffer); }
    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken ct = default) { _hash.AppendData(buffer.Span); _length += buffer.Length; await _inner.WriteAsync(buffer, ct); }
    public override Task WriteAsync(byte[] b, int o, int c, CancellationToken ct) => WriteAsync(b.AsMemory(o, c), ct).AsTask();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    protected override void Dispose(bool disposing) { if (disposing && !_leaveOpen) _inner.Dispose(); base.Dispose(disposing); }
}
