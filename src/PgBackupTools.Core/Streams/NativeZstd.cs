using System.Runtime.InteropServices;

namespace PgBackupTools.Core.Streams;

/// <summary>
/// The system's libzstd (Debian's libzstd1, Homebrew's zstd, a zstd.dll beside the module), found at run time: on
/// SQL dumps its compressor does the same work as ZstdSharp's managed port in about half the CPU time, which on a
/// small machine shared with pg_dump and the server is most of a backup's overhead. Absent or older than 1.4
/// (no ZSTD_compressStream2): <see cref="Default"/> is null and ZstdSharp compresses instead.
/// </summary>
/// <remarks>
/// Function pointers from <see cref="NativeLibrary.GetExport"/> rather than [DllImport]: the library's name differs
/// per system, a missing one must be a fallback and not a DllNotFoundException at the first call, and pgbt-wal
/// (Native AOT) needs no marshalling stubs for them.
/// </remarks>
internal sealed unsafe class NativeZstd
{
    /// <summary>Set to <c>managed</c>, the managed port compresses even where libzstd is installed (comparisons, or a broken libzstd).</summary>
    public const string EngineVariable = "PGBACKUPTOOLS_ZSTD";

    public static readonly string[] LibraryNames = ["libzstd.so.1", "libzstd.so", "libzstd.1.dylib", "libzstd.dylib", "zstd.dll", "libzstd.dll"];

    private const uint MinVersion = 10400; // ZSTD_compressStream2 and ZSTD_CCtx_setParameter became stable in 1.4.0

    private static readonly Lazy<NativeZstd?> Shared = new(() =>
        string.Equals(Environment.GetEnvironmentVariable(EngineVariable), "managed", StringComparison.OrdinalIgnoreCase) ? null : Load(LibraryNames));

    private readonly delegate* unmanaged<nint> _createCCtx;
    private readonly delegate* unmanaged<nint, nuint> _freeCCtx;
    private readonly delegate* unmanaged<nint, int, int, nuint> _setParameter;
    private readonly delegate* unmanaged<nint, OutBuffer*, InBuffer*, int, nuint> _compressStream2;
    private readonly delegate* unmanaged<nuint, uint> _isError;
    private readonly delegate* unmanaged<nuint, byte*> _getErrorName;
    private readonly delegate* unmanaged<nint, byte*, nuint, byte*, nuint, nuint> _compress2;
    private readonly delegate* unmanaged<nint> _createDCtx;
    private readonly delegate* unmanaged<nint, nuint> _freeDCtx;
    private readonly delegate* unmanaged<nint, byte*, nuint, byte*, nuint, nuint> _decompressDCtx;

    private NativeZstd(nint library, string name, uint version)
    {
        Name = name;
        Version = version;
        _createCCtx = (delegate* unmanaged<nint>)NativeLibrary.GetExport(library, "ZSTD_createCCtx");
        _freeCCtx = (delegate* unmanaged<nint, nuint>)NativeLibrary.GetExport(library, "ZSTD_freeCCtx");
        _setParameter = (delegate* unmanaged<nint, int, int, nuint>)NativeLibrary.GetExport(library, "ZSTD_CCtx_setParameter");
        _compressStream2 = (delegate* unmanaged<nint, OutBuffer*, InBuffer*, int, nuint>)NativeLibrary.GetExport(library, "ZSTD_compressStream2");
        _isError = (delegate* unmanaged<nuint, uint>)NativeLibrary.GetExport(library, "ZSTD_isError");
        _getErrorName = (delegate* unmanaged<nuint, byte*>)NativeLibrary.GetExport(library, "ZSTD_getErrorName");
        _compress2 = (delegate* unmanaged<nint, byte*, nuint, byte*, nuint, nuint>)NativeLibrary.GetExport(library, "ZSTD_compress2");
        _createDCtx = (delegate* unmanaged<nint>)NativeLibrary.GetExport(library, "ZSTD_createDCtx");
        _freeDCtx = (delegate* unmanaged<nint, nuint>)NativeLibrary.GetExport(library, "ZSTD_freeDCtx");
        _decompressDCtx = (delegate* unmanaged<nint, byte*, nuint, byte*, nuint, nuint>)NativeLibrary.GetExport(library, "ZSTD_decompressDCtx");
    }

    /// <summary>The process's libzstd, loaded once; null when none is usable or <see cref="EngineVariable"/> says managed.</summary>
    public static NativeZstd? Default => Shared.Value;

    /// <summary>The name it was loaded by.</summary>
    public string Name { get; }

    /// <summary>ZSTD_versionNumber(): 10504 for 1.5.4.</summary>
    public uint Version { get; }

    /// <summary>The first of <paramref name="names"/> that loads and is recent enough; null if none.</summary>
    public static NativeZstd? Load(IEnumerable<string> names)
    {
        foreach (var name in names)
        {
            if (!NativeLibrary.TryLoad(name, out var library))
                continue;
            try
            {
                if (NativeLibrary.TryGetExport(library, "ZSTD_versionNumber", out var versionNumber)
                    && ((delegate* unmanaged<uint>)versionNumber)() is var version and >= MinVersion)
                    return new NativeZstd(library, name, version);
            }
            catch (EntryPointNotFoundException)
            {
            }
            NativeLibrary.Free(library);
        }
        return null;
    }

    public CompressionContext CreateCompressionContext()
    {
        var context = new CompressionContext(this, _createCCtx());
        if (context.IsInvalid)
            throw new OutOfMemoryException("libzstd could not allocate a compression context.");
        return context;
    }

    /// <summary>ZSTD_CCtx_setParameter; false (and no exception) when zstd refuses the value, e.g. workers without multithreading.</summary>
    public bool TrySetParameter(CompressionContext context, Parameter parameter, int value)
        => _isError(_setParameter(context.DangerousGetHandle(), (int)parameter, value)) == 0;

    /// <summary>
    /// One ZSTD_compressStream2 call: takes what it can of <paramref name="input"/> and writes what is ready into
    /// <paramref name="output"/>. Returns zstd's hint: 0 once a Flush or End directive is complete.
    /// </summary>
    public nuint Compress(CompressionContext context, ReadOnlySpan<byte> input, Span<byte> output, Directive directive, out int consumed, out int produced)
    {
        fixed (byte* src = input)
        fixed (byte* dst = output)
        {
            var inBuffer = new InBuffer { Src = src, Size = (nuint)input.Length };
            var outBuffer = new OutBuffer { Dst = dst, Size = (nuint)output.Length };
            nuint result = _compressStream2(context.DangerousGetHandle(), &outBuffer, &inBuffer, (int)directive);
            consumed = (int)inBuffer.Pos;
            produced = (int)outBuffer.Pos;
            if (_isError(result) != 0)
                throw new IOException($"zstd failed to compress: {Marshal.PtrToStringUTF8((nint)_getErrorName(result))}.");
            return result;
        }
    }

    /// <summary>
    /// ZSTD_compress2: all of <paramref name="input"/> as one frame (with the parameters set on the context, and the
    /// content size in its header) into <paramref name="output"/>; returns the frame's length. The output must hold
    /// ZSTD_compressBound(input) (<see cref="ZstdFrames.CompressBound"/>).
    /// </summary>
    public int CompressFrame(CompressionContext context, ReadOnlySpan<byte> input, Span<byte> output)
    {
        fixed (byte* src = input)
        fixed (byte* dst = output)
        {
            nuint result = _compress2(context.DangerousGetHandle(), dst, (nuint)output.Length, src, (nuint)input.Length);
            if (_isError(result) != 0)
                throw new IOException($"zstd failed to compress: {Marshal.PtrToStringUTF8((nint)_getErrorName(result))}.");
            return checked((int)result);
        }
    }

    public DecompressionContext CreateDecompressionContext()
    {
        var context = new DecompressionContext(this, _createDCtx());
        if (context.IsInvalid)
            throw new OutOfMemoryException("libzstd could not allocate a decompression context.");
        return context;
    }

    /// <summary>
    /// ZSTD_decompressDCtx: the whole frames in <paramref name="input"/> into <paramref name="output"/>, their content
    /// checksums verified; returns the decompressed length. Damaged input throws <see cref="InvalidDataException"/>.
    /// </summary>
    public int DecompressFrames(DecompressionContext context, ReadOnlySpan<byte> input, Span<byte> output)
    {
        fixed (byte* src = input)
        fixed (byte* dst = output)
        {
            nuint result = _decompressDCtx(context.DangerousGetHandle(), dst, (nuint)output.Length, src, (nuint)input.Length);
            if (_isError(result) != 0)
                throw new InvalidDataException($"zstd failed to decompress: {Marshal.PtrToStringUTF8((nint)_getErrorName(result))}.");
            return checked((int)result);
        }
    }

    /// <summary>ZSTD_cParameter values used here (stable API, zstd.h).</summary>
    public enum Parameter
    {
        CompressionLevel = 100,
        ContentSizeFlag = 200,
        ChecksumFlag = 201,
        NbWorkers = 400,
    }

    /// <summary>ZSTD_EndDirective.</summary>
    public enum Directive
    {
        Continue = 0,
        Flush = 1,
        End = 2,
    }

    /// <summary>A ZSTD_CCtx; freeing it stops and joins its worker threads and writes nothing.</summary>
    public sealed class CompressionContext : SafeHandle
    {
        private readonly NativeZstd? _zstd;

        public CompressionContext() : base(0, ownsHandle: true)
        {
        }

        internal CompressionContext(NativeZstd zstd, nint handle) : base(0, ownsHandle: true)
        {
            _zstd = zstd;
            SetHandle(handle);
        }

        public override bool IsInvalid => handle == 0;

        protected override bool ReleaseHandle()
        {
            _zstd?._freeCCtx(handle);
            return true;
        }
    }

    /// <summary>A ZSTD_DCtx.</summary>
    public sealed class DecompressionContext : SafeHandle
    {
        private readonly NativeZstd? _zstd;

        public DecompressionContext() : base(0, ownsHandle: true)
        {
        }

        internal DecompressionContext(NativeZstd zstd, nint handle) : base(0, ownsHandle: true)
        {
            _zstd = zstd;
            SetHandle(handle);
        }

        public override bool IsInvalid => handle == 0;

        protected override bool ReleaseHandle()
        {
            _zstd?._freeDCtx(handle);
            return true;
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct InBuffer
    {
        public byte* Src;
        public nuint Size;
        public nuint Pos;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct OutBuffer
    {
        public byte* Dst;
        public nuint Size;
        public nuint Pos;
    }
}
