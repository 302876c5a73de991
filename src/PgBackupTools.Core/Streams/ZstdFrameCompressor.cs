namespace PgBackupTools.Core.Streams;

/// <summary>
/// zstd as a sequence of independent frames, compressed on every core (<see cref="ParallelBlockCompressor{TBlock}"/>):
/// each <see cref="FrameSize"/> of input becomes one frame with its content size and a content checksum in it, so a
/// reader can cut the stream at frame boundaries without decompressing and decompress the frames in parallel
/// (<see cref="ZstdFrameDecompressor"/>). Concatenated frames are a valid .zst file: `zstd -d` reads them all.
/// The price against one multithreaded frame: a frame cannot refer to the previous one's data (at 4 MiB a scale-20
/// base backup stored 245.0 MB, pgBackRest's per-file zstd 238.4 MB). Empty input is one empty frame.
/// </summary>
internal sealed class ZstdFrameCompressor : ParallelBlockCompressor<ZstdFrameBlock>
{
    /// <summary>4 MiB: two frames per worker in flight stay within a few tens of MiB; other sizes were not measured yet.</summary>
    public const int DefaultFrameSize = 4 << 20;

    private readonly ZstdFrameCodec _codec;
    private readonly int _frameSize;
    private bool _anyFrame;

    public ZstdFrameCompressor(Stream output, int level, bool leaveOpen, int frameSize = DefaultFrameSize, int workers = 0, ZstdFrameCodec? codec = null)
        : base(output, leaveOpen, workers, frameSize, "zstd")
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(frameSize, ZstdFrameSplitter.MaxFrameContent);
        _codec = codec ?? ZstdFrameCodec.Create(level);
        _frameSize = frameSize;
    }

    public int FrameSize => _frameSize;

    /// <summary>"libzstd" or "ZstdSharp".</summary>
    public string Engine => _codec.Engine;

    protected override ZstdFrameBlock CreateBlock() => new(_frameSize, _codec);

    protected override void OnBlockWritten(ZstdFrameBlock block) => _anyFrame = true;

    protected override ReadOnlyMemory<byte> Trailer()
    {
        if (_anyFrame)
            return default;
        var empty = new byte[ZstdFrameCodec.CompressBound(0)];
        return empty.AsMemory(0, _codec.Compress([], empty));
    }

    protected override void ReleaseBlocks() => _codec.Dispose();
}
