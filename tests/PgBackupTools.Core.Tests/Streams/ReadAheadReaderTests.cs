using System.IO.Pipes;
using PgBackupTools.Core.Streams;

namespace PgBackupTools.Core.Tests.Streams;

/// <summary>The read-ahead in front of pg_dump's pipe: every byte in order, in big chunks, failures passed on.</summary>
public class ReadAheadReaderTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task A_pipe_written_8_KiB_at_a_time_arrives_whole_in_big_chunks()
    {
        var data = TestData.DumpText(5_000_000);
        using var server = new AnonymousPipeServerStream(PipeDirection.Out);
        using var client = new AnonymousPipeClientStream(PipeDirection.In, server.ClientSafePipeHandle);
        var writer = Task.Run(() =>
        {
            for (int i = 0; i < data.Length; i += 8192) // like pg_dump's stdio
                server.Write(data, i, Math.Min(8192, data.Length - i));
            server.Dispose();
        });

        await using var reader = new ReadAheadReader(client, chunkSize: 1 << 20, minimumChunk: 256 << 10);
        var received = new MemoryStream();
        var sizes = new List<int>();
        ReadOnlyMemory<byte> chunk;
        while (!(chunk = await reader.ReadAsync(default).AsTask().WaitAsync(Deadline)).IsEmpty)
        {
            sizes.Add(chunk.Length);
            received.Write(chunk.Span);
        }
        await writer;

        Bytes.AssertSame(data, received.ToArray());
        Assert.All(sizes[..^1], size => Assert.InRange(size, 256 << 10, 1 << 20));
        Assert.True((await reader.ReadAsync(default)).IsEmpty, "the end stays the end");
    }

    [Fact]
    public void Pipes_grow_to_hold_a_millisecond_of_pg_dump_and_other_streams_are_left_alone()
    {
        using var server = new AnonymousPipeServerStream(PipeDirection.Out);
        using var client = new AnonymousPipeClientStream(PipeDirection.In, server.ClientSafePipeHandle);
        Assert.Equal(OperatingSystem.IsLinux(), PipeCapacity.TryGrow(client, 1 << 20));
        Assert.False(PipeCapacity.TryGrow(new MemoryStream(), 1 << 20));
    }

    [Fact]
    public async Task An_empty_stream_ends_at_once()
    {
        await using var reader = new ReadAheadReader(new MemoryStream());
        Assert.True((await reader.ReadAsync(default).AsTask().WaitAsync(Deadline)).IsEmpty);
    }

    [Fact]
    public async Task A_failed_read_reaches_the_consumer_after_the_data_before_it()
    {
        var data = TestData.Random(700_000);
        await using var reader = new ReadAheadReader(new BrokenAfter(data), chunkSize: 64 << 10, minimumChunk: 64 << 10, buffers: 2);
        var received = new MemoryStream();
        var thrown = await Record.ExceptionAsync(async () =>
        {
            ReadOnlyMemory<byte> chunk;
            while (!(chunk = await reader.ReadAsync(default).AsTask().WaitAsync(Deadline)).IsEmpty)
                received.Write(chunk.Span);
        });

        Assert.Contains("injected", Assert.IsType<IOException>(thrown).Message);
        Assert.True(received.Length >= 640 << 10, $"{received.Length} bytes before the failure");
        Bytes.AssertSame(data.AsSpan(0, (int)received.Length), received.ToArray());
    }

    [Fact]
    public async Task Waiting_for_a_silent_pipe_can_be_cancelled_and_disposed()
    {
        using var server = new AnonymousPipeServerStream(PipeDirection.Out);
        using var client = new AnonymousPipeClientStream(PipeDirection.In, server.ClientSafePipeHandle);
        var reader = new ReadAheadReader(client);
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => reader.ReadAsync(cancel.Token).AsTask().WaitAsync(Deadline));
        await reader.DisposeAsync();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => reader.ReadAsync(default).AsTask());
        server.Dispose(); // the pipe's end lets the reading thread finish
    }

    /// <summary>Gives its data in 10,000-byte reads, then fails like a broken pipe.</summary>
    private sealed class BrokenAfter(byte[] data) : Stream
    {
        private int _position;
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }
        public override void Flush()
        {
        }
        public override int Read(byte[] buffer, int offset, int count)
        {
            if (_position == data.Length)
                throw new IOException("Broken pipe (injected).");
            int n = Math.Min(Math.Min(count, 10_000), data.Length - _position);
            data.AsSpan(_position, n).CopyTo(buffer.AsSpan(offset));
            _position += n;
            return n;
        }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
