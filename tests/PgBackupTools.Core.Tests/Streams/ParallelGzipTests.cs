using System.Buffers.Binary;
using System.IO.Compression;
using PgBackupTools.Core.Streams;

namespace PgBackupTools.Core.Tests.Streams;

public class ParallelGzipTests
{
    [Fact]
    public void Many_blocks_make_one_gzip_member()
    {
        var data = TestData.DumpText(3_000_000);
        var stored = new MemoryStream();
        using (var gzip = new ParallelGzipCompressor(stored, 6, leaveOpen: true, blockSize: 10_000, workers: 2))
            TestData.WriteInOddChunks(gzip, data);
        var member = stored.ToArray();

        // One member: the raw deflate data between the 10-byte header and the 8-byte trailer holds all the data
        // (a second member's header would be garbage to a deflate decoder, which stops at the first final block).
        using var deflate = new DeflateStream(new MemoryStream(member, 10, member.Length - 18), CompressionMode.Decompress);
        Bytes.AssertSame(data, TestData.ReadAll(deflate));
        Assert.Equal(Crc32Reference.Compute(data), BinaryPrimitives.ReadUInt32LittleEndian(member.AsSpan(^8)));
        Assert.Equal((uint)data.Length, BinaryPrimitives.ReadUInt32LittleEndian(member.AsSpan(^4)));
    }

    [Fact]
    public void Blocks_are_compressed_on_more_than_one_thread()
    {
        var data = TestData.DumpText(8_000_000);
        var stored = new MemoryStream();
        var gzip = new ParallelGzipCompressor(stored, 6, leaveOpen: true, blockSize: 64 * 1024, workers: 2);
        using (gzip)
            gzip.Write(data);
        Assert.True(gzip.WorkerThreads.Count > 1, $"all blocks were compressed on {gzip.WorkerThreads.Count} thread");
        stored.Position = 0;
        using var back = new GZipStream(stored, CompressionMode.Decompress);
        Bytes.AssertSame(data, TestData.ReadAll(back));
    }

    [Fact]
    public void Memory_is_bounded_by_the_blocks_in_flight_whatever_the_input_size()
    {
        const int workers = 2;
        var chunk = TestData.DumpText(1_000_000);
        var gzip = new ParallelGzipCompressor(Stream.Null, 1, leaveOpen: true, blockSize: 16 * 1024, workers: workers);
        using (gzip)
            for (int i = 0; i < 40; i++) // 40 MB through 16 KiB blocks: 2,400 blocks
                gzip.Write(chunk);
        Assert.InRange(gzip.BlocksAllocated, 1, 2 * workers + 1);
    }

    [Fact]
    public void A_failing_worker_fails_the_stream_and_nothing_more_is_written()
    {
        var data = TestData.DumpText(4_000_000);
        var output = new MemoryStream();
        int blocks = 0;
        var gzip = new ParallelGzipCompressor(output, 6, leaveOpen: true, blockSize: 100_000, workers: 2)
        {
            OnWorker = _ =>
            {
                if (Interlocked.Increment(ref blocks) == 5)
                    throw new InvalidOperationException("worker failed (injected)");
            },
        };
        var thrown = Record.Exception(() =>
        {
            try
            {
                TestData.WriteInOddChunks(gzip, data);
            }
            finally
            {
                gzip.Dispose();
            }
        });
        var failure = Assert.IsType<InvalidOperationException>(thrown);
        Assert.Equal("worker failed (injected)", failure.Message);
        long written = output.Length;
        Assert.True(written < data.Length / 2, "the output must stop at the failed block");
        gzip.Dispose(); // idempotent: no second throw, nothing written
        Assert.Equal(written, output.Length);
        output.Position = 0;
        Assert.Throws<InvalidDataException>(() => TestData.ReadAll(Compression.CreateDecompressor(output, CompressionKind.Gzip)));
    }

    [Fact]
    public async Task A_write_cancelled_while_waiting_for_workers_fails_the_stream()
    {
        var data = TestData.DumpText(2_000_000);
        var gzip = new ParallelGzipCompressor(new MemoryStream(), 6, leaveOpen: false, blockSize: 50_000, workers: 2)
        {
            OnWorker = _ => Thread.Sleep(50),
        };
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await gzip.WriteAsync(data, cancel.Token));
        // The output is incomplete: closing it must not look like success.
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await gzip.DisposeAsync());
    }

    [Fact]
    public async Task A_write_with_an_already_cancelled_token_takes_nothing()
    {
        var data = TestData.DumpText(100_000);
        var stored = new MemoryStream();
        await using (var gzip = Compression.CreateCompressor(stored, CompressionKind.Gzip, leaveOpen: true))
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await gzip.WriteAsync(data, new CancellationToken(true)));
            await gzip.WriteAsync(data);
        }
        stored.Position = 0;
        Bytes.AssertSame(data, TestData.ReadAll(Compression.CreateDecompressor(stored, CompressionKind.Gzip)));
    }
}
