namespace PgBackupTools.Core.Streams;

/// <summary><see cref="CompressionKind.None"/>: bytes go to the output unchanged, with the same failure and dispose rules as a codec.</summary>
internal sealed class PassThroughCompressor(Stream output, bool leaveOpen) : CompressorStream(output, leaveOpen)
{
    protected override void WriteCore(ReadOnlySpan<byte> buffer) => Output.Write(buffer);

    protected override ValueTask WriteCoreAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken)
        => Output.WriteAsync(buffer, cancellationToken);

    protected override void FlushCore() => Output.Flush();

    protected override Task FlushCoreAsync(CancellationToken cancellationToken) => Output.FlushAsync(cancellationToken);

    protected override void FinishCore() => Output.Flush();

    protected override async ValueTask FinishCoreAsync() => await Output.FlushAsync().ConfigureAwait(false);

    protected override void ReleaseCore()
    {
    }
}
