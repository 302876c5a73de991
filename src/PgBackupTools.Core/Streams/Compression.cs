using K4os.Compression.LZ4.Streams;
using ZstdSharp;

namespace PgBackupTools.Core.Streams;

/// <summary>Opens compressing and decompressing streams for every <see cref="CompressionKind"/>.</summary>
public static class Compression
{
    /// <summary>
    /// A write-only stream: bytes written to it come out compressed into <paramref name="output"/>. Disposing it
    /// (Dispose or DisposeAsync) compresses what is left, writes the format's trailer, flushes, and disposes the output
    /// unless <paramref name="leaveOpen"/>; it throws if anything failed on the way (a worker, the output), so a
    /// disposed-without-exception stream means complete output. Gzip and zstd compress on all cores.
    /// </summary>
    /// <param name="level">Null: <see cref="DefaultLevel"/>, chosen for backups. Otherwise the codec's own scale:
    /// gzip 0..9, zstd -131072..22 (negative: fast modes), lz4 0..12 (0..2 fast, 3..9 HC, 10..12 OPT). Ignored for None.</param>
    /// <param name="independentFrames">Zstd only: a frame per 4 MiB of input, each with its content size and checksum
    /// (<see cref="ZstdFrameCompressor"/>), so a restore decodes them on all cores (<c>CreateDecompressor(..., parallel: true)</c>);
    /// still one valid .zst file. Otherwise one multithreaded frame, which only a single thread can decode.</param>
    public static Stream CreateCompressor(Stream output, CompressionKind kind, int? level = null, bool leaveOpen = false, bool independentFrames = false)
    {
        ArgumentNullException.ThrowIfNull(output);
        int chosen = level ?? DefaultLevel(kind);
        return kind switch
        {
            CompressionKind.None => new PassThroughCompressor(output, leaveOpen),
            CompressionKind.Gzip => new ParallelGzipCompressor(output, chosen, leaveOpen),
            CompressionKind.Zstd when independentFrames => new ZstdFrameCompressor(output, chosen, leaveOpen),
            CompressionKind.Zstd => ZstdCompressor.Create(output, chosen, leaveOpen),
            CompressionKind.Lz4 => new Lz4Compressor(output, chosen, leaveOpen),
            _ => throw UnknownKind(kind),
        };
    }

    /// <summary>
    /// A read-only stream of the decompressed bytes of <paramref name="input"/>. Gzip reads every member of a
    /// multi-member file, zstd every frame of a concatenated file. Input that ends early (a truncated or empty file)
    /// makes a read throw <see cref="InvalidDataException"/> rather than look like the end of the data; checksums in
    /// the format (gzip CRC-32, zstd and lz4 content checksums) are verified.
    /// </summary>
    /// <param name="parallel">Zstd only: decode independent frames on all cores (<see cref="ZstdFrameDecompressor"/>;
    /// a stream of one big frame is read as before). For big streams: it starts worker threads and reads frames ahead.</param>
    public static Stream CreateDecompressor(Stream input, CompressionKind kind, bool leaveOpen = false, bool parallel = false)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (!input.CanRead)
            throw new ArgumentException("The input stream is not readable.", nameof(input));
        return kind switch
        {
            CompressionKind.Zstd when parallel => new ZstdFrameDecompressor(input, leaveOpen),
            CompressionKind.None => new PassThroughReader(input, leaveOpen),
            CompressionKind.Gzip => new GzipDecompressor(input, leaveOpen),
            CompressionKind.Zstd => new DecompressionStream(
                new PassThroughReader(input, leaveOpen, rejectEmpty: true), bufferSize: 0, checkEndOfStream: true, leaveOpen: false),
            CompressionKind.Lz4 => LZ4Stream.Decode(
                new PassThroughReader(input, leaveOpen, rejectEmpty: true), settings: null, leaveOpen: false, interactive: false),
            _ => throw UnknownKind(kind),
        };
    }

    /// <summary>"", ".gz", ".zst", ".lz4".</summary>
    public static string FileExtension(CompressionKind kind) => kind switch
    {
        CompressionKind.None => "",
        CompressionKind.Gzip => ".gz",
        CompressionKind.Zstd => ".zst",
        CompressionKind.Lz4 => ".lz4",
        _ => throw UnknownKind(kind),
    };

    /// <summary>
    /// The level used when none is given, picked on SQL dumps for throughput at a sane ratio (see the streams
    /// benchmark): gzip 6 (gzip's own default; parallel it still keeps pace with pg_dump), zstd 1, lz4 0 (fast). None: 0.
    /// </summary>
    public static int DefaultLevel(CompressionKind kind) => kind switch
    {
        CompressionKind.None => 0,
        CompressionKind.Gzip => ParallelGzipCompressor.DefaultLevel,
        CompressionKind.Zstd => ZstdCompressor.DefaultLevel,
        CompressionKind.Lz4 => Lz4Compressor.DefaultLevel,
        _ => throw UnknownKind(kind),
    };

    private static ArgumentOutOfRangeException UnknownKind(CompressionKind kind)
        => new(nameof(kind), kind, "Unknown compression kind.");
}
