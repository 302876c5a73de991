using System.Diagnostics.CodeAnalysis;
using System.IO.Compression;
using System.Reflection;

namespace PgBackupTools.Core.Streams;

/// <summary>
/// Reads gzip (every member of a multi-member file) through <see cref="GZipStream"/>, and fails where GZipStream
/// would silently stop: input that ends inside a member (a truncated file, an interrupted upload). `gunzip` reports
/// that as "unexpected end of file"; a restore must too.
/// </summary>
/// <remarks>
/// .NET only checks this with the process-wide switch System.IO.Compression.UseStrictValidation, read once per process
/// (a library cannot rely on setting it). We ask the same question the runtime asks under that switch, "did the
/// inflater finish?", by reflection on GZipStream's internals, which are the same from .NET 7 to 10. If a runtime
/// lacks them, <see cref="DetectsTruncation"/> is false and reads are not checked (a test pins that it is true on ours);
/// the SHA-256 of the raw data in the manifest still catches a short file.
/// </remarks>
internal sealed class GzipDecompressor : ForwardOnlyReadStream
{
    private static readonly Func<GZipStream, bool>? InflaterFinished = FindInflaterFinished();

    private readonly GZipStream _gzip;
    private bool _disposed;

    public GzipDecompressor(Stream input, bool leaveOpen) => _gzip = new GZipStream(input, CompressionMode.Decompress, leaveOpen);

    /// <summary>True when reading detects input that ends inside a gzip member.</summary>
    public static bool DetectsTruncation => InflaterFinished is not null;

    public override bool CanRead => !_disposed;
    public override int Read(Span<byte> buffer)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        int n = _gzip.Read(buffer);
        if (n == 0 && !buffer.IsEmpty)
            EnsureComplete();
        return n;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        int n = await _gzip.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        if (n == 0 && !buffer.IsEmpty)
            EnsureComplete();
        return n;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_disposed)
        {
            _disposed = true;
            _gzip.Dispose();
        }
        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        if (_disposed)
            return;
        _disposed = true;
        await _gzip.DisposeAsync().ConfigureAwait(false);
        GC.SuppressFinalize(this);
    }

    private void EnsureComplete()
    {
        if (InflaterFinished is not null && !InflaterFinished(_gzip))
            throw new InvalidDataException("The gzip data is truncated: the input ended inside a gzip member.");
    }

    [UnconditionalSuppressMessage("Trimming", "IL2075", Justification = "Optional check; absent members disable it.")]
    [UnconditionalSuppressMessage("Trimming", "IL2080", Justification = "Optional check; absent members disable it.")]
    [DynamicDependency("_deflateStream", typeof(GZipStream))]
    [DynamicDependency("_inflater", typeof(DeflateStream))]
    [DynamicDependency("Finished", "System.IO.Compression.Inflater", "System.IO.Compression")]
    private static Func<GZipStream, bool>? FindInflaterFinished()
    {
        try
        {
            const BindingFlags instance = BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public;
            var deflateStream = typeof(GZipStream).GetField("_deflateStream", instance);
            var inflater = typeof(DeflateStream).GetField("_inflater", instance);
            var finished = inflater?.FieldType.GetMethod("Finished", instance, Type.EmptyTypes);
            if (deflateStream?.FieldType != typeof(DeflateStream) || inflater is null || finished?.ReturnType != typeof(bool))
                return null;
            return gzip =>
            {
                var state = inflater.GetValue(deflateStream.GetValue(gzip));
                return state is not null && (bool)finished.Invoke(state, null)!;
            };
        }
        catch (Exception)
        {
            return null;
        }
    }
}
