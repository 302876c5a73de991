using K4os.Compression.LZ4;
using K4os.Compression.LZ4.Streams;

namespace PgBackupTools.Core.Streams;

/// <summary>
/// LZ4 frame format (K4os), read by `lz4 -d`: independent 64 KiB blocks and a content checksum, which `lz4 -d` and
/// our decompressor verify. One thread: lz4 is already faster than the rest of a backup.
/// </summary>
internal sealed class Lz4Compressor : CompressorStream
{
    public const int DefaultLevel = 0; // LZ4 fast; 3..9 HC, 10..12 OPT (the lz4 CLI's scale; 0..2 are all "fast")
    public const int MinLevel = 0;
    public const int MaxLevel = 12;

    private readonly DetachableOutput _output;
    private readonly LZ4EncoderStream _encoder;

    public Lz4Compressor(Stream output, int level, bool leaveOpen)
        : base(output, leaveOpen)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(level, MinLevel);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(level, MaxLevel);
        _output = new DetachableOutput(output);
        _encoder = LZ4Stream.Encode(_output, new LZ4EncoderSettings
        {
            CompressionLevel = level <= 2 ? LZ4Level.L00_FAST : (LZ4Level)level,
            BlockSize = 64 * 1024,
            ChainBlocks = false, // the lz4 CLI's default; on SQL dumps also the better ratio
            ContentChecksum = true,
        }, leaveOpen: true);
    }

    protected override void WriteCore(ReadOnlySpan<byte> buffer) => _encoder.Write(buffer);

    protected override ValueTask WriteCoreAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken)
        => _encoder.WriteAsync(buffer, cancellationToken);

    // K4os cannot end a block early: Flush pushes the complete blocks (already written) and flushes the output; up
    // to one block (64 KiB) stays in the encoder until more data or Dispose.
    protected override void FlushCore() => _encoder.Flush();

    protected override Task FlushCoreAsync(CancellationToken cancellationToken) => _encoder.FlushAsync(cancellationToken);

    // K4os writes the frame header with the first data; an empty write makes sure empty input still gives a frame
    // (0 bytes is not an lz4 file, and our decompressor rejects it as truncated).
    protected override void FinishCore()
    {
        _encoder.Write(ReadOnlySpan<byte>.Empty);
        _encoder.Dispose(); // end mark and content checksum
        Output.Flush();
    }

    protected override async ValueTask FinishCoreAsync()
    {
        await _encoder.WriteAsync(ReadOnlyMemory<byte>.Empty).ConfigureAwait(false);
        await _encoder.DisposeAsync().ConfigureAwait(false);
        await Output.FlushAsync().ConfigureAwait(false);
    }

    protected override void ReleaseCore()
    {
        _output.Detach();
        try
        {
            _encoder.Dispose(); // after a failure: frees buffers; its flush hits the detached output and fails
        }
        catch (ObjectDisposedException)
        {
        }
    }
}
