using System.Diagnostics;
using PgBackupTools.Core.Streams;

namespace PgBackupTools.Bench;

/// <summary>
/// Throughput and ratio of every compressor on a real file (e.g. a pg_dump), as the backup pipeline uses them: the
/// input is read in 64 KiB pieces, like a pipe from pg_dump, and written to the compressor; output goes nowhere.
/// </summary>
internal static class StreamsBenchmark
{
    private const int ReadSize = 64 * 1024;
    private static readonly string[] DefaultCodecs = ["gzip", "gzip-fast", "zstd-1", "zstd-3", "lz4", "none"];

    public static int Run(string[] args)
    {
        string path = args[0];
        int repeat = 1;
        var codecs = new List<string>();
        for (int i = 1; i < args.Length; i++)
        {
            if (args[i] == "--repeat" && i + 1 < args.Length)
                repeat = int.Parse(args[++i]);
            else
                codecs.Add(args[i]);
        }
        if (codecs.Count == 0)
            codecs.AddRange(DefaultCodecs);
        if (path == "-" && (codecs.Count > 1 || repeat > 1))
        {
            Console.Error.WriteLine("stdin can feed one codec, once");
            return 2;
        }

        Console.Error.WriteLine($"# {Environment.ProcessorCount} cores, .NET {Environment.Version}");
        Console.Error.WriteLine($"# libzstd: {NativeZstd.Default?.Name ?? "none (zstd-N uses ZstdSharp)"}");
        Console.WriteLine("codec\tseconds\tcpu_seconds\tMB/s\toutput_bytes\tratio");
        foreach (var codec in codecs)
        {
            bool pipeline = codec.StartsWith("pipeline-", StringComparison.Ordinal);
            string name = pipeline ? codec["pipeline-".Length..] : codec;
            bool managed = name.StartsWith("zstdsharp", StringComparison.Ordinal);
            if (managed)
                name = "zstd" + name["zstdsharp".Length..];
            var (kind, level) = name == "sha256" ? (CompressionKind.None, null) : Parse(name);
            Func<Stream, Stream> compressor = sink => kind == CompressionKind.Zstd
                ? ZstdCompressor.Create(sink, level ?? ZstdCompressor.DefaultLevel, leaveOpen: false, workers: null, managed ? null : NativeZstd.Default)
                : Compression.CreateCompressor(sink, kind, level);
            Result? best = null;
            for (int r = 0; r < repeat; r++)
            {
                var result = Measure(path, compressor, hash: name == "sha256", pipeline);
                // On a shared machine the least of each is the closest to the codec's own cost.
                best = best is null ? result : best with
                {
                    Seconds = Math.Min(best.Seconds, result.Seconds),
                    CpuSeconds = Math.Min(best.CpuSeconds, result.CpuSeconds),
                };
            }
            Console.WriteLine($"{codec}\t{best!.Seconds:F2}\t{best.CpuSeconds:F2}\t{best.InputBytes / 1e6 / best.Seconds:F0}\t{best.OutputBytes}\t{(double)best.InputBytes / Math.Max(1, best.OutputBytes):F3}");
            Console.Error.WriteLine($"# {codec}: level {level?.ToString() ?? "default"}, peak working set so far {Process.GetCurrentProcess().PeakWorkingSet64 / (1 << 20)} MiB");
        }
        return 0;
    }

    /// <param name="hash">Measure a <see cref="HashingStream"/> (SHA-256) in front of the compressor instead.</param>
    /// <param name="pipeline">Everything a plain backup does in process besides reading the pipe (ToolOutputWriter):
    /// row counting, SHA-256 of the dump, compression, SHA-256 of what is stored.</param>
    private static Result Measure(string path, Func<Stream, Stream> createCompressor, bool hash, bool pipeline)
    {
        var counter = new PgBackupTools.Core.Backup.PlainDumpRowCounter();
        using var input = path == "-" ? Console.OpenStandardInput() : new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
        var sink = new CountingSink();
        var buffer = new byte[ReadSize];
        long inputBytes = 0;
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        using (var compressor = hash ? new HashingStream(createCompressor(sink))
            : pipeline ? new HashingStream(createCompressor(new HashingStream(sink)))
            : createCompressor(sink))
        {
            int n;
            while ((n = input.Read(buffer, 0, buffer.Length)) > 0)
            {
                if (pipeline)
                    counter.Observe(buffer.AsSpan(0, n));
                compressor.Write(buffer, 0, n);
                inputBytes += n;
            }
        }
        return new Result(clock.Elapsed.TotalSeconds, (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds, inputBytes, sink.Count);
    }

    private static (CompressionKind Kind, int? Level) Parse(string codec) => codec switch
    {
        "gzip" => (CompressionKind.Gzip, null),
        "gzip-fast" => (CompressionKind.Gzip, 1),
        "zstd" => (CompressionKind.Zstd, null),
        "lz4" => (CompressionKind.Lz4, null),
        "none" => (CompressionKind.None, null),
        _ when codec.StartsWith("gzip-", StringComparison.Ordinal) => (CompressionKind.Gzip, int.Parse(codec[5..])),
        _ when codec.StartsWith("zstd-", StringComparison.Ordinal) => (CompressionKind.Zstd, int.Parse(codec[5..])),
        _ when codec.StartsWith("lz4-", StringComparison.Ordinal) => (CompressionKind.Lz4, int.Parse(codec[4..])),
        _ => throw new ArgumentException($"unknown codec {codec}"),
    };

    private sealed record Result(double Seconds, double CpuSeconds, long InputBytes, long OutputBytes);

    /// <summary>A null stream that counts what it is given.</summary>
    private sealed class CountingSink : Stream
    {
        public long Count { get; private set; }
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => Count;
        public override long Position
        {
            get => Count;
            set => throw new NotSupportedException();
        }
        public override void Flush()
        {
        }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => Count += count;
        public override void Write(ReadOnlySpan<byte> buffer) => Count += buffer.Length;
    }
}
