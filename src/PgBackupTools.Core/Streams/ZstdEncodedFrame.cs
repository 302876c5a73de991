namespace PgBackupTools.Core.Streams;

/// <summary>
/// One whole zstd frame cut out of a stream (<see cref="ZstdFrameSplitter"/>), decoded on a worker into its content.
/// Reused: the decompressor owns a fixed set of these, which bounds its memory.
/// </summary>
internal sealed class ZstdEncodedFrame(ZstdFrameCodec codec) : ParallelBlock
{
    private byte[] _content = [];

    /// <summary>The frame's bytes: the first <see cref="Length"/> are used.</summary>
    public byte[] Compressed { get; set; } = [];
    public int Length { get; set; }

    /// <summary>From the frame header: what it decodes to.</summary>
    public int ContentSize { get; set; }

    /// <summary>The decoded bytes; valid once <see cref="ParallelBlock.Done"/> completed successfully.</summary>
    public ReadOnlyMemory<byte> Content { get; private set; }

    protected override void Process()
    {
        if (_content.Length < ContentSize)
            _content = GC.AllocateUninitializedArray<byte>(ContentSize);
        codec.Decompress(Compressed.AsSpan(0, Length), _content.AsSpan(0, ContentSize));
        Content = _content.AsMemory(0, ContentSize);
    }

    public override void Reset()
    {
        base.Reset();
        Length = 0;
        ContentSize = 0;
        Content = default;
    }
}
