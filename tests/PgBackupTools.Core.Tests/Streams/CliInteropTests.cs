using PgBackupTools.Core.Streams;

namespace PgBackupTools.Core.Tests.Streams;

/// <summary>Our files against the real tools users restore with: `gunzip -c file | psql` and friends.</summary>
public sealed class CliInteropTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pgbt-streams-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    public static TheoryData<CompressionKind, string, string> Tools => new()
    {
        { CompressionKind.Gzip, "/usr/bin/gzip", "dump text 6 MB" },
        { CompressionKind.Gzip, "/usr/bin/gzip", "random 5 MB" },
        { CompressionKind.Gzip, "/usr/bin/gzip", "empty" },
        { CompressionKind.Zstd, "/usr/bin/zstd", "dump text 6 MB" },
        { CompressionKind.Zstd, "/usr/bin/zstd", "random 5 MB" },
        { CompressionKind.Zstd, "/usr/bin/zstd", "empty" },
        { CompressionKind.Lz4, "/usr/bin/lz4", "dump text 6 MB" },
        { CompressionKind.Lz4, "/usr/bin/lz4", "random 5 MB" },
        { CompressionKind.Lz4, "/usr/bin/lz4", "empty" },
    };

    [Theory]
    [MemberData(nameof(Tools))]
    public void The_cli_decompresses_what_we_compress(CompressionKind kind, string tool, string payload)
    {
        var data = CompressionRoundTripTests.Payload(payload);
        var file = Path.Combine(_dir, "ours" + Compression.FileExtension(kind));
        using (var compressor = Compression.CreateCompressor(File.Create(file), kind))
            TestData.WriteInOddChunks(compressor, data);

        Cli.Run(tool, "-t", file); // the tool's own integrity test (checksums)
        Bytes.AssertSame(data, Cli.Run(tool, "-d", "-c", file));
    }

    [Theory]
    [MemberData(nameof(Tools))]
    public void We_decompress_what_the_cli_compresses(CompressionKind kind, string tool, string payload)
    {
        var data = CompressionRoundTripTests.Payload(payload);
        var raw = Path.Combine(_dir, "raw");
        File.WriteAllBytes(raw, data);
        var compressed = Cli.Run(tool, "-c", raw);

        using var decompressor = Compression.CreateDecompressor(new MemoryStream(compressed), kind);
        Bytes.AssertSame(data, TestData.ReadAll(decompressor));
    }

    [Theory]
    [InlineData(CompressionKind.Gzip, "/usr/bin/gzip", "-1")]
    [InlineData(CompressionKind.Gzip, "/usr/bin/gzip", "-9")]
    [InlineData(CompressionKind.Zstd, "/usr/bin/zstd", "-T2")]
    [InlineData(CompressionKind.Zstd, "/usr/bin/zstd", "--no-check")]
    [InlineData(CompressionKind.Lz4, "/usr/bin/lz4", "-BD")]
    [InlineData(CompressionKind.Lz4, "/usr/bin/lz4", "-9")]
    public void We_decompress_the_cli_options_users_pick(CompressionKind kind, string tool, string option)
    {
        var data = TestData.DumpText(3_000_000);
        var raw = Path.Combine(_dir, "raw");
        File.WriteAllBytes(raw, data);
        var compressed = Cli.Run(tool, option, "-c", raw);

        using var decompressor = Compression.CreateDecompressor(new MemoryStream(compressed), kind);
        Bytes.AssertSame(data, TestData.ReadAll(decompressor));
    }

    [Theory]
    [InlineData(CompressionKind.Gzip, "/usr/bin/gzip")]
    [InlineData(CompressionKind.Zstd, "/usr/bin/zstd")]
    public void We_read_every_member_of_concatenated_files(CompressionKind kind, string tool)
    {
        var first = TestData.DumpText(500_000, seed: 3);
        var second = TestData.Random(300_000, seed: 4);
        var a = Path.Combine(_dir, "a");
        var b = Path.Combine(_dir, "b");
        File.WriteAllBytes(a, first);
        File.WriteAllBytes(b, second);
        var both = Cli.Run(tool, "-c", a).Concat(Cli.Run(tool, "-c", b)).ToArray(); // like `cat a.gz b.gz`

        using var decompressor = Compression.CreateDecompressor(new MemoryStream(both), kind);
        Bytes.AssertSame(first.Concat(second).ToArray(), TestData.ReadAll(decompressor));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(9)]
    public void Gunzip_reads_every_gzip_level(int level)
    {
        var data = TestData.DumpText(2_500_000);
        var file = Path.Combine(_dir, "level.gz");
        using (var compressor = Compression.CreateCompressor(File.Create(file), CompressionKind.Gzip, level))
            compressor.Write(data);
        Bytes.AssertSame(data, Cli.Run("/usr/bin/gzip", "-d", "-c", file));
    }

    [Fact]
    public void Gzip_lists_the_whole_length_in_its_single_member()
    {
        var data = TestData.DumpText(3_000_000);
        var file = Path.Combine(_dir, "list.gz");
        using (var compressor = Compression.CreateCompressor(File.Create(file), CompressionKind.Gzip))
            compressor.Write(data);
        // gzip -l reads only the last trailer: right only if the file is one member.
        var listing = System.Text.Encoding.ASCII.GetString(Cli.Run("/usr/bin/gzip", "-l", file));
        Assert.Contains($" {data.Length} ", listing);
    }
}
