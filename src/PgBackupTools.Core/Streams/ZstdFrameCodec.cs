using ZstdSharp;
using ZstdSharp.Unsafe;

namespace PgBackupTools.Core.Streams;

/// <summary>
/// Whole zstd frames in one call, on any number of threads at once (a context per thread): the system's libzstd
/// where it is installed, ZstdSharp otherwise or when <see cref="NativeZstd.EngineVariable"/> says managed. Frames
/// carry their content size and a content checksum; decoding verifies the checksum. Dispose after the threads that
/// used it ended: it frees every thread's context.
/// </summary>
internal abstract class ZstdFrameCodec : IDisposable
{
    /// <summary>With the process's libzstd (<see cref="NativeZstd.Default"/>) or, without it, ZstdSharp.</summary>
    public static ZstdFrameCodec Create(int level) => Create(level, NativeZstd.Default);

    /// <param name="native">The libzstd to use; null: ZstdSharp.</param>
    public static ZstdFrameCodec Create(int level, NativeZstd? native)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(level, ZstdCompressor.MinLevel);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(level, ZstdCompressor.MaxLevel);
        return native is null ? new Managed(level) : new Native(native, level);
    }

    /// <summary>The most a frame of <paramref name="length"/> bytes can take (ZSTD_compressBound).</summary>
    public static int CompressBound(int length) => checked((int)Compressor.GetCompressBound(length));

    /// <summary>"libzstd" or "ZstdSharp".</summary>
    public abstract string Engine { get; }

    /// <summary>All of <paramref name="input"/> as one frame; <paramref name="output"/> holds <see cref="CompressBound"/>. Returns the frame's length.</summary>
    public abstract int Compress(ReadOnlySpan<byte> input, Span<byte> output);

    /// <summary>
    /// One whole frame into <paramref name="output"/>, exactly as long as its content; the checksum is verified.
    /// Damaged input throws <see cref="InvalidDataException"/>.
    /// </summary>
    public void Decompress(ReadOnlySpan<byte> frame, Span<byte> output)
    {
        int n = DecompressCore(frame, output);
        if (n != output.Length)
            throw new InvalidDataException($"A zstd frame decoded to {n:N0} bytes, its header says {output.Length:N0}.");
    }

    protected abstract int DecompressCore(ReadOnlySpan<byte> frame, Span<byte> output);

    public abstract void Dispose();

    private sealed class Native(NativeZstd zstd, int level) : ZstdFrameCodec
    {
        private readonly ThreadLocal<NativeZstd.CompressionContext> _compressors = new(() =>
        {
            var context = zstd.CreateCompressionContext();
            if (!zstd.TrySetParameter(context, NativeZstd.Parameter.CompressionLevel, level)
                || !zstd.TrySetParameter(context, NativeZstd.Parameter.ChecksumFlag, 1)
                || !zstd.TrySetParameter(context, NativeZstd.Parameter.ContentSizeFlag, 1))
            {
                context.Dispose();
                throw new ArgumentOutOfRangeException(nameof(level), level, "libzstd refuses this level.");
            }
            return context;
        }, trackAllValues: true);

        private readonly ThreadLocal<NativeZstd.DecompressionContext> _decompressors = new(zstd.CreateDecompressionContext, trackAllValues: true);

        public override string Engine => "libzstd";

        public override int Compress(ReadOnlySpan<byte> input, Span<byte> output) => zstd.CompressFrame(_compressors.Value!, input, output);

        protected override int DecompressCore(ReadOnlySpan<byte> frame, Span<byte> output) => zstd.DecompressFrames(_decompressors.Value!, frame, output);

        public override void Dispose()
        {
            foreach (var context in _compressors.Values) context.Dispose();
            foreach (var context in _decompressors.Values) context.Dispose();
            _compressors.Dispose();
            _decompressors.Dispose();
        }
    }

    private sealed class Managed(int level) : ZstdFrameCodec
    {
        private readonly ThreadLocal<Compressor> _compressors = new(() =>
        {
            var compressor = new Compressor(level);
            compressor.SetParameter(ZSTD_cParameter.ZSTD_c_checksumFlag, 1);
            compressor.SetParameter(ZSTD_cParameter.ZSTD_c_contentSizeFlag, 1);
            return compressor;
        }, trackAllValues: true);

        private readonly ThreadLocal<Decompressor> _decompressors = new(() => new Decompressor(), trackAllValues: true);

        public override string Engine => "ZstdSharp";

        public override int Compress(ReadOnlySpan<byte> input, Span<byte> output) => _compressors.Value!.Wrap(input, output);

        protected override int DecompressCore(ReadOnlySpan<byte> frame, Span<byte> output)
        {
            try
            {
                return _decompressors.Value!.Unwrap(frame, output);
            }
            catch (ZstdException e)
            {
                throw new InvalidDataException($"zstd failed to decompress: {e.Message}", e);
            }
        }

        public override void Dispose()
        {
            foreach (var compressor in _compressors.Values) compressor.Dispose();
            foreach (var decompressor in _decompressors.Values) decompressor.Dispose();
            _compressors.Dispose();
            _decompressors.Dispose();
        }
    }
}
