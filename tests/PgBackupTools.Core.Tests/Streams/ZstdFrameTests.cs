using System.Buffers.Binary;
using PgBackupTools.Core.Streams;

namespace PgBackupTools.Core.Tests.Streams;

/// <summary>
/// Independent zstd frames: what the frame compressor writes is a .zst file the zstd CLI reads; the splitter cuts any
/// zstd stream (ours, the CLI's, with raw, RLE and compressed blocks and skippable frames) at frame boundaries and the
/// parallel decompressor returns exactly the content; damage fails loudly; a one-frame stream still streams.
/// </summary>
public sealed class ZstdFrameTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pgbt-frames-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    public static TheoryData<string, bool> Engines => new()
    {
        { "dump text 6 MB", true }, { "dump text 6 MB", false },
        { "random 5 MB", true }, { "random 5 MB", false },
        { "empty", true }, { "1 byte", false },
    };

    [Theory]
    [MemberData(nameof(Engines))]
    public void Frames_round_trip_and_the_zstd_cli_tests_and_decompresses_them(string payload, bool native)
    {
        var data = CompressionRoundTripTests.Payload(payload);
        var file = Path.Combine(_dir, "frames.zst");
        int frameSize = 256 << 10;
        using (var compressor = new ZstdFrameCompressor(File.Create(file), 1, leaveOpen: false, frameSize, codec: Codec(native)))
            TestData.WriteInOddChunks(compressor, data);

        Cli.Run("/usr/bin/zstd", "-t", file);
        Bytes.AssertSame(data, Cli.Run("/usr/bin/zstd", "-d", "-c", file));
        using var decompressor = new ZstdFrameDecompressor(File.OpenRead(file), leaveOpen: false, codec: Codec(native));
        Bytes.AssertSame(data, TestData.ReadAll(decompressor));
        Assert.False(decompressor.Streaming, "our frames carry their content size: none may need the streaming decoder");
        Assert.Equal(Math.Max(1, (data.Length + frameSize - 1) / frameSize), decompressor.FramesDecoded);

        // Read asynchronously (a logical restore's copy), the same bytes come out.
        using var asyncDecompressor = new ZstdFrameDecompressor(File.OpenRead(file), leaveOpen: false, codec: Codec(native));
        var copy = new MemoryStream();
        asyncDecompressor.CopyToAsync(copy).GetAwaiter().GetResult();
        Bytes.AssertSame(data, copy.ToArray());
    }

    [Fact]
    public void Every_frame_carries_its_content_size_and_a_checksum_in_its_header()
    {
        var data = TestData.DumpText(3_000_000);
        var stream = new MemoryStream();
        using (var compressor = Compression.CreateCompressor(stream, CompressionKind.Zstd, leaveOpen: true, independentFrames: true))
            compressor.Write(data);
        var frames = Frames(stream.ToArray());
        Assert.Single(frames); // 3 MB: one 4 MiB frame
        byte descriptor = frames[0][4];
        Assert.NotEqual(0, descriptor >> 6 | (descriptor & 0x20)); // a content size field
        Assert.NotEqual(0, descriptor & 0x04);                      // a content checksum
        Assert.Contains("Check", System.Text.Encoding.ASCII.GetString(Cli.Run("/usr/bin/zstd", "-lv", Write("one.zst", stream.ToArray()))));
    }

    [Fact]
    public void The_splitter_walks_raw_rle_and_compressed_blocks_and_skips_skippable_frames()
    {
        // The CLI writes a compressed file's frame with its content size: runs of one byte become RLE blocks, random
        // bytes raw blocks, text compressed blocks.
        byte[] runs = new byte[1_000_000];
        runs.AsSpan(0, 400_000).Fill(0x41);
        runs.AsSpan(400_000).Fill(0x00);
        byte[] random = TestData.Random(700_000, seed: 9);
        byte[] text = TestData.DumpText(900_000);
        byte[] empty = [];
        var stream = new MemoryStream();
        var expected = new MemoryStream();
        foreach (var (part, i) in new[] { runs, random, SkippableFrameMarker, text, empty }.Select((p, i) => (p, i)))
        {
            if (ReferenceEquals(part, SkippableFrameMarker))
            {
                stream.Write(SkippableFrame(5000));
                continue;
            }
            stream.Write(Cli.Run("/usr/bin/zstd", "-c", "-3", Write($"part{i}", part)));
            expected.Write(part);
        }
        Assert.Contains(1, BlockTypes(Cli.Run("/usr/bin/zstd", "-c", Write("runs", runs))));   // RLE
        Assert.Contains(0, BlockTypes(Cli.Run("/usr/bin/zstd", "-c", Write("random", random)))); // raw
        Assert.Contains(2, BlockTypes(Cli.Run("/usr/bin/zstd", "-c", Write("text", text))));     // compressed

        using var decompressor = new ZstdFrameDecompressor(new MemoryStream(stream.ToArray()), leaveOpen: false);
        Bytes.AssertSame(expected.ToArray(), TestData.ReadAll(decompressor));
        Assert.Equal(4, decompressor.FramesDecoded);
        Assert.False(decompressor.Streaming);
    }

    [Fact]
    public void A_single_frame_without_content_size_streams_after_the_frames_before_it()
    {
        var first = TestData.DumpText(2_000_000, seed: 3);
        var second = TestData.DumpText(3_000_000, seed: 4);
        var stream = new MemoryStream();
        using (var frames = Compression.CreateCompressor(stream, CompressionKind.Zstd, leaveOpen: true, independentFrames: true))
            frames.Write(first);
        using (var legacy = Compression.CreateCompressor(stream, CompressionKind.Zstd, leaveOpen: true)) // one multithreaded frame, as backups before
            legacy.Write(second);

        using var decompressor = new ZstdFrameDecompressor(new MemoryStream(stream.ToArray()), leaveOpen: false);
        Bytes.AssertSame([.. first, .. second], TestData.ReadAll(decompressor));
        Assert.Equal(1, decompressor.FramesDecoded);
        Assert.True(decompressor.Streaming);
    }

    [Fact]
    public void A_frame_larger_than_the_bound_streams()
    {
        var data = TestData.DumpText(ZstdFrameSplitter.MaxFrameContent + 1000);
        var compressed = Cli.Run("/usr/bin/zstd", "-c", "-1", Write("big", data)); // one frame, content size in its header
        using var decompressor = new ZstdFrameDecompressor(new MemoryStream(compressed), leaveOpen: false);
        Bytes.AssertSame(data, TestData.ReadAll(decompressor));
        Assert.True(decompressor.Streaming);
    }

    [Theory]
    [InlineData(1)]       // inside the first frame's header
    [InlineData(100_000)] // inside a block
    [InlineData(-2)]      // inside the last checksum
    public void A_truncated_stream_fails(int cut)
    {
        var compressed = Compress(TestData.DumpText(1_500_000), frameSize: 256 << 10);
        int length = cut > 0 ? cut : compressed.Length + cut;
        using var decompressor = new ZstdFrameDecompressor(new MemoryStream(compressed[..length]), leaveOpen: false);
        Assert.Throws<InvalidDataException>(() => TestData.ReadAll(decompressor));
    }

    [Theory]
    [InlineData(4)]         // the first frame's header descriptor (its content size and dictionary fields)
    [InlineData(50_000)]    // inside compressed data
    [InlineData(-1)]        // the last content checksum
    public void A_flipped_byte_fails(int at)
    {
        var compressed = Compress(TestData.DumpText(1_500_000), frameSize: 256 << 10);
        compressed[at >= 0 ? at : compressed.Length + at] ^= 0x41; // not 0x10: bit 4 of the descriptor is unused, zstd ignores it
        using var decompressor = new ZstdFrameDecompressor(new MemoryStream(compressed), leaveOpen: false);
        Assert.Throws<InvalidDataException>(() => TestData.ReadAll(decompressor));
    }

    [Fact]
    public void Empty_input_and_trailing_garbage_fail()
    {
        using (var empty = new ZstdFrameDecompressor(new MemoryStream(), leaveOpen: false))
            Assert.Throws<InvalidDataException>(() => TestData.ReadAll(empty));
        byte[] garbage = [.. Compress(TestData.DumpText(10_000), 4096), 1, 2, 3, 4, 5];
        using var decompressor = new ZstdFrameDecompressor(new MemoryStream(garbage), leaveOpen: false);
        Assert.Throws<InvalidDataException>(() => TestData.ReadAll(decompressor));
    }

    [Fact]
    public void Memory_stays_bounded_with_many_frames()
    {
        var data = TestData.DumpText(8_000_000);
        var stream = new MemoryStream();
        var compressor = new ZstdFrameCompressor(stream, 1, leaveOpen: true, frameSize: 64 << 10, workers: 2);
        using (compressor)
            TestData.WriteInOddChunks(compressor, data);
        Assert.InRange(compressor.BlocksAllocated, 1, 2 * 2 + 1);
        Assert.True(compressor.WorkerThreads.Count >= 1);
        Assert.Equal((data.Length + (64 << 10) - 1) / (64 << 10), Frames(stream.ToArray()).Count);
    }

    private static readonly byte[] SkippableFrameMarker = new byte[1];

    private static ZstdFrameCodec Codec(bool native)
    {
        if (native)
            Assert.NotNull(NativeZstd.Default); // libzstd is installed where the tests run
        return ZstdFrameCodec.Create(1, native ? NativeZstd.Default : null);
    }

    private static byte[] Compress(byte[] data, int frameSize)
    {
        var stream = new MemoryStream();
        using (var compressor = new ZstdFrameCompressor(stream, 1, leaveOpen: true, frameSize))
            compressor.Write(data);
        return stream.ToArray();
    }

    private string Write(string name, byte[] data)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllBytes(path, data);
        return path;
    }

    private static byte[] SkippableFrame(int size)
    {
        var frame = new byte[8 + size];
        BinaryPrimitives.WriteUInt32LittleEndian(frame, 0x184D2A53);
        BinaryPrimitives.WriteUInt32LittleEndian(frame.AsSpan(4), (uint)size);
        frame.AsSpan(8).Fill(0xEE);
        return frame;
    }

    /// <summary>The frames of a stream, by a splitter of the test's own (the spec's header layout, written out again).</summary>
    private static List<byte[]> Frames(byte[] stream)
    {
        var frames = new List<byte[]>();
        for (int at = 0; at < stream.Length;)
        {
            int start = at;
            int end = FrameEnd(stream, at, out _);
            frames.Add(stream[start..end]);
            at = end;
        }
        return frames;
    }

    private static List<int> BlockTypes(byte[] frame)
    {
        FrameEnd(frame, 0, out var types);
        return types;
    }

    private static int FrameEnd(byte[] s, int at, out List<int> blockTypes)
    {
        blockTypes = [];
        Assert.Equal(0xFD2FB528u, BinaryPrimitives.ReadUInt32LittleEndian(s.AsSpan(at)));
        byte d = s[at + 4];
        int fcs = (d >> 6) switch { 0 => (d & 0x20) != 0 ? 1 : 0, 1 => 2, 2 => 4, _ => 8 };
        at += 5 + ((d & 0x20) != 0 ? 0 : 1) + (d & 3) switch { 0 => 0, 1 => 1, 2 => 2, _ => 4 } + fcs;
        while (true)
        {
            int header = s[at] | s[at + 1] << 8 | s[at + 2] << 16;
            int type = (header >> 1) & 3;
            blockTypes.Add(type);
            at += 3 + (type == 1 ? 1 : header >> 3);
            if ((header & 1) != 0) break;
        }
        return at + ((d & 4) != 0 ? 4 : 0);
    }
}
