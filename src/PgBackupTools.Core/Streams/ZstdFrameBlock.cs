namespace PgBackupTools.Core.Streams;

/// <summary>A slice of input compressed on a worker into one complete, independent zstd frame.</summary>
internal sealed class ZstdFrameBlock(int capacity, ZstdFrameCodec codec) : CompressionBlock(capacity)
{
    private readonly byte[] _frame = GC.AllocateUninitializedArray<byte>(ZstdFrameCodec.CompressBound(capacity));

    protected override void Process()
    {
        int n = codec.Compress(Input.AsSpan(0, Length), _frame);
        Output = _frame.AsMemory(0, n);
    }
}
