using PgBackupTools.Core.Streams;

namespace PgBackupTools.Core.Tests.Streams;

public class ZstdWorkersTests
{
    [Theory]
    [InlineData(1, 2, 2)]
    [InlineData(1, 64, 8)]
    [InlineData(19, 64, 0)] // one worker's buffers alone exceed the budget: zstd's single-threaded mode
    public void Workers_follow_cores_within_the_memory_budget(int level, int cores, int expected)
    {
        Assert.Equal(expected, ZstdCompressor.WorkersFor(level, cores));
    }

    [Fact]
    public void Higher_levels_get_fewer_workers()
    {
        int atLevel3 = ZstdCompressor.WorkersFor(3, 64);
        Assert.InRange(atLevel3, 1, 7);
        Assert.True(ZstdCompressor.WorkersFor(9, 64) < atLevel3);
    }

    [Fact]
    public void The_default_level_compresses_on_several_threads()
    {
        using var zstd = ZstdCompressor.Create(new MemoryStream(), ZstdCompressor.DefaultLevel, leaveOpen: false);
        Assert.Equal(Math.Min(Environment.ProcessorCount, 8), zstd.Workers);
    }

    [Fact]
    public void Ultra_levels_are_refused_for_their_memory()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Compression.CreateCompressor(new MemoryStream(), CompressionKind.Zstd, 20));
    }

    [Fact]
    public void Gzip_blocks_in_flight_stay_within_the_memory_budget_on_many_cores()
    {
        const int blockSize = 4 << 20;
        var gzip = new ParallelGzipCompressor(Stream.Null, 1, leaveOpen: true, blockSize: blockSize, workers: 16);
        var chunk = TestData.DumpText(1 << 20);
        using (gzip)
            for (int i = 0; i < 80; i++)
                gzip.Write(chunk);
        Assert.True((long)gzip.BlocksAllocated * 2 * blockSize <= ParallelGzipCompressor.MemoryBudget,
            $"{gzip.BlocksAllocated} blocks of {blockSize} bytes");
    }
}
