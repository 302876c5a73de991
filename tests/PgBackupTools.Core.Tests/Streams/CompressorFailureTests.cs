using PgBackupTools.Core.Streams;

namespace PgBackupTools.Core.Tests.Streams;

/// <summary>A failing output must fail the compressor: Write or Dispose throws, nothing hangs, nothing more is written.</summary>
public class CompressorFailureTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    public static TheoryData<CompressionKind, long> Cases()
    {
        var cases = new TheoryData<CompressionKind, long>();
        foreach (var kind in Enum.GetValues<CompressionKind>())
            foreach (var acceptBytes in new long[] { 0, 5, 300_000, 3_000_000 })
                cases.Add(kind, acceptBytes);
        return cases;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task A_failing_output_makes_write_or_dispose_throw(CompressionKind kind, long acceptBytes)
    {
        var data = TestData.Random(6_000_000); // incompressible: the output outgrows acceptBytes
        var output = new FailingStream(acceptBytes);
        var thrown = await Task.Run(() => Record.Exception(() =>
        {
            using var compressor = Compression.CreateCompressor(output, kind);
            TestData.WriteInOddChunks(compressor, data);
        })).WaitAsync(Deadline);

        var failure = Assert.IsType<IOException>(thrown);
        Assert.Contains("injected", failure.Message);
        Assert.True(output.Disposed, "the output must be disposed even after a failure (leaveOpen: false)");
        Assert.Equal(1, output.FailedWrites); // after the first failure nothing more is tried
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task A_failing_output_makes_async_write_or_dispose_throw(CompressionKind kind, long acceptBytes)
    {
        var data = TestData.Random(6_000_000);
        var output = new FailingStream(acceptBytes);
        var thrown = await Record.ExceptionAsync(async () =>
        {
            await using var compressor = Compression.CreateCompressor(output, kind);
            await TestData.WriteInOddChunksAsync(compressor, data);
        }).WaitAsync(Deadline);

        Assert.Contains("injected", Assert.IsType<IOException>(thrown).Message);
        Assert.Equal(1, output.FailedWrites);
    }

    [Theory]
    [InlineData(CompressionKind.None)]
    [InlineData(CompressionKind.Gzip)]
    [InlineData(CompressionKind.Zstd)]
    [InlineData(CompressionKind.Lz4)]
    public void Dispose_rethrows_the_failure_a_write_already_reported(CompressionKind kind)
    {
        var output = new FailingStream(acceptBytes: 1000);
        var compressor = Compression.CreateCompressor(output, kind, leaveOpen: true);
        var data = TestData.Random(3_000_000);
        var fromWrite = Assert.Throws<IOException>(() =>
        {
            for (int i = 0; i < 20; i++)
                compressor.Write(data);
        });
        // A caller that swallowed the write's exception must not get a "complete" output from Dispose.
        Assert.Throws<IOException>(() => compressor.Write(data, 0, 10));
        var fromDispose = Assert.Throws<IOException>(compressor.Dispose);
        Assert.Same(fromWrite, fromDispose);
        compressor.Dispose(); // the second Dispose is a no-op
        Assert.Equal(1, output.FailedWrites);
    }

    [Theory]
    [InlineData(CompressionKind.None)]
    [InlineData(CompressionKind.Gzip)]
    [InlineData(CompressionKind.Zstd)]
    [InlineData(CompressionKind.Lz4)]
    public void An_output_that_fails_to_close_makes_dispose_throw(CompressionKind kind)
    {
        var output = new FailingStream(long.MaxValue, failOnDispose: true);
        var compressor = Compression.CreateCompressor(output, kind);
        compressor.Write(TestData.DumpText(100_000));
        Assert.Contains("injected", Assert.Throws<IOException>(compressor.Dispose).Message);
        compressor.Dispose();
    }

    // Not lz4: K4os cannot flush a partial block, so its Flush only flushes the output (see Lz4Compressor).
    [Theory]
    [InlineData(CompressionKind.None)]
    [InlineData(CompressionKind.Gzip)]
    [InlineData(CompressionKind.Zstd)]
    public async Task A_failing_output_makes_flush_throw(CompressionKind kind)
    {
        var output = new FailingStream(acceptBytes: 10);
        var compressor = Compression.CreateCompressor(output, kind);
        await Task.Run(() =>
        {
            try { compressor.Write(TestData.Random(1000)); }
            catch (IOException) { } // some codecs write a header at once
            Assert.Throws<IOException>(compressor.Flush);
            Assert.Throws<IOException>(compressor.Dispose);
        }).WaitAsync(Deadline);
    }
}
