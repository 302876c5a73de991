using ZstdSharp;
using ZstdSharp.Unsafe;

namespace PgBackupTools.Core.Streams;

/// <summary>
/// zstd through ZstdSharp (the managed port), for machines without libzstd. The output is lent through
/// <see cref="DetachableOutput"/> so that after a failure disposing ZstdSharp's stream (which flushes, then frees
/// the context and joins its workers) writes nothing more.
/// </summary>
/// <remarks>
/// Not <c>Compressor.WrapStream</c>: in ZstdSharp 0.8.8 it loops until its output buffer is full, which with workers
/// (no output yet, input all taken) never happens: it spins forever.
/// </remarks>
internal sealed class ManagedZstdCompressor : ZstdCompressor
{
    private const int OutputBufferSize = 256 * 1024;

    private readonly DetachableOutput _output;
    private readonly CompressionStream _zstd;

    public ManagedZstdCompressor(Stream output, int level, bool leaveOpen, int? workers = null)
        : base(output, leaveOpen, level, workers)
    {
        _output = new DetachableOutput(output);
        _zstd = new CompressionStream(_output, level, OutputBufferSize, leaveOpen: true);
        try
        {
            _zstd.SetParameter(ZSTD_cParameter.ZSTD_c_checksumFlag, 1);
            _zstd.SetParameter(ZSTD_cParameter.ZSTD_c_nbWorkers, Workers);
        }
        catch
        {
            _output.Detach();
            _zstd.Dispose();
            throw;
        }
    }

    public override string Engine => "ZstdSharp";

    protected override void WriteCore(ReadOnlySpan<byte> buffer) => _zstd.Write(buffer);

    protected override ValueTask WriteCoreAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken)
        => _zstd.WriteAsync(buffer, cancellationToken);

    protected override void FlushCore()
    {
        _zstd.Flush();
        Output.Flush();
    }

    protected override async Task FlushCoreAsync(CancellationToken cancellationToken)
    {
        await _zstd.FlushAsync(cancellationToken).ConfigureAwait(false);
        await Output.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    protected override void FinishCore()
    {
        _zstd.Dispose(); // ends the frame (checksum), frees the context, joins the workers
        Output.Flush();
    }

    protected override async ValueTask FinishCoreAsync()
    {
        await _zstd.DisposeAsync().ConfigureAwait(false);
        await Output.FlushAsync().ConfigureAwait(false);
    }

    protected override void ReleaseCore()
    {
        _output.Detach();
        try
        {
            _zstd.Dispose(); // after a failure: its flush hits the detached output; the context is freed regardless
        }
        catch (ObjectDisposedException)
        {
        }
    }
}
