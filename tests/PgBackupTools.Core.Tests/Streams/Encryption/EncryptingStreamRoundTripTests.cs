using PgBackupTools.Core.Streams.Encryption;
using static PgBackupTools.Core.Tests.Streams.Encryption.EncryptionTestData;

namespace PgBackupTools.Core.Tests.Streams.Encryption;

public sealed class EncryptingStreamRoundTripTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(SmallChunk - 1)]
    [InlineData(SmallChunk)]
    [InlineData(SmallChunk + 1)]
    [InlineData(2 * SmallChunk)]
    [InlineData(5 * SmallChunk + 17)]
    public void Round_trip_restores_the_plaintext_and_has_the_documented_length(int length)
    {
        using var key = NewKey();
        byte[] plaintext = Plaintext(length);

        byte[] ciphertext = Encrypt(plaintext, key);

        // Every full chunk is non-final; the final chunk is always shorter (possibly empty).
        int chunks = length / SmallChunk + 1;
        Assert.Equal(Header + length + chunks * Tag, ciphertext.Length);
        Assert.Equal(plaintext, Decrypt(ciphertext, key));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(1024 * 1024 - 1)]
    [InlineData(1024 * 1024)]
    [InlineData(1024 * 1024 + 1)]
    [InlineData(3 * 1024 * 1024 + 12345)]
    public void Round_trip_with_the_default_1_MiB_chunk(int length)
    {
        using var key = NewKey();
        byte[] plaintext = Plaintext(length);

        byte[] ciphertext = Encrypt(plaintext, key, EncryptingStream.DefaultChunkSize);

        Assert.Equal(Header + length + (length / (1024 * 1024) + 1) * Tag, ciphertext.Length);
        Assert.Equal(plaintext, Decrypt(ciphertext, key));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(SmallChunk - 1)]
    [InlineData(SmallChunk + 1)]
    [InlineData(3 * SmallChunk + 5)]
    public void Odd_write_sizes_give_the_same_plaintext_back(int writeSize)
    {
        using var key = NewKey();
        byte[] plaintext = Plaintext(7 * SmallChunk + 3);

        byte[] ciphertext = Encrypt(plaintext, key, SmallChunk, writeSize);

        Assert.Equal(Header + plaintext.Length + 8 * Tag, ciphertext.Length);
        Assert.Equal(plaintext, Decrypt(ciphertext, key));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(5)]
    [InlineData(SmallChunk + 3)]
    [InlineData(4096)]
    public void Odd_read_sizes_give_the_same_plaintext_back(int readSize)
    {
        using var key = NewKey();
        byte[] plaintext = Plaintext(6 * SmallChunk + 9);

        var (output, failure) = DecryptUntilFailure(Encrypt(plaintext, key), key, readSize);

        Assert.Null(failure);
        Assert.Equal(plaintext, output);
    }

    [Fact]
    public async Task Async_writes_and_reads_round_trip()
    {
        using var key = NewKey();
        byte[] plaintext = Plaintext(9 * SmallChunk + 31);
        var ciphertext = new MemoryStream();

        await using (var encrypting = new EncryptingStream(ciphertext, key, leaveOpen: true, chunkSize: SmallChunk))
        {
            for (int offset = 0; offset < plaintext.Length; offset += 100)
                await encrypting.WriteAsync(plaintext.AsMemory(offset, Math.Min(100, plaintext.Length - offset)));
        }

        ciphertext.Position = 0;
        var output = new MemoryStream();
        await using (var decrypting = new DecryptingStream(ciphertext, key, leaveOpen: true))
        {
            var buffer = new byte[37];
            int n;
            while ((n = await decrypting.ReadAsync(buffer)) > 0) output.Write(buffer, 0, n);
            Assert.True(decrypting.IsComplete);
        }
        Assert.Equal(plaintext, output.ToArray());

        ciphertext.Position = 0;
        var copied = new MemoryStream();
        await using (var decrypting = new DecryptingStream(ciphertext, key))
            await decrypting.CopyToAsync(copied);
        Assert.Equal(plaintext, copied.ToArray());
    }

    [Fact]
    public void WriteByte_and_ReadByte_round_trip()
    {
        using var key = NewKey();
        byte[] plaintext = Plaintext(SmallChunk + 2);
        var ciphertext = new MemoryStream();
        using (var encrypting = new EncryptingStream(ciphertext, key, leaveOpen: true, chunkSize: SmallChunk))
            foreach (byte b in plaintext) encrypting.WriteByte(b);

        ciphertext.Position = 0;
        using var decrypting = new DecryptingStream(ciphertext, key);
        var output = new List<byte>();
        int value;
        while ((value = decrypting.ReadByte()) >= 0) output.Add((byte)value);

        Assert.Equal(plaintext, output.ToArray());
    }

    [Fact]
    public void Empty_input_gives_a_header_and_one_empty_final_chunk()
    {
        using var key = NewKey();

        byte[] ciphertext = Encrypt([], key);

        Assert.Equal(Header + Tag, ciphertext.Length);
        Assert.Equal("PGBT-ENC"u8.ToArray(), ciphertext[..8]);
        Assert.Empty(Decrypt(ciphertext, key));
    }

    [Fact]
    public void Header_records_version_algorithm_chunk_size_and_key_id()
    {
        using var key = NewKey();

        byte[] ciphertext = Encrypt(Plaintext(10), key, chunkSize: 4096);

        Assert.Equal("PGBT-ENC"u8.ToArray(), ciphertext[0..8]);
        Assert.Equal(1, ciphertext[8]);
        Assert.Equal(1, ciphertext[9]);
        Assert.Equal(new byte[] { 0, 0 }, ciphertext[10..12]);
        Assert.Equal(new byte[] { 0, 0, 0x10, 0 }, ciphertext[12..16]);
        Assert.Equal(key.KeyId, Convert.ToHexString(ciphertext[16..24]).ToLowerInvariant());
        Assert.Equal(Parameters.KeyId, key.KeyId);
    }

    [Fact]
    public void The_same_plaintext_encrypts_differently_each_time()
    {
        using var key = NewKey();
        byte[] plaintext = Plaintext(3 * SmallChunk);

        byte[] first = Encrypt(plaintext, key);
        byte[] second = Encrypt(plaintext, key);

        Assert.NotEqual(first[24..56], second[24..56]); // file salt
        Assert.NotEqual(first[Header..], second[Header..]);
    }

    [Fact]
    public void Reader_takes_the_chunk_size_from_the_header()
    {
        using var key = NewKey();
        byte[] plaintext = Plaintext(1000);
        byte[] ciphertext = Encrypt(plaintext, key, chunkSize: 100);

        using var decrypting = new DecryptingStream(new MemoryStream(ciphertext), key);
        var output = new MemoryStream();
        decrypting.CopyTo(output);

        Assert.Equal(100, decrypting.ChunkSize);
        Assert.Equal(plaintext, output.ToArray());
    }

    [Fact]
    public void Streams_keep_working_after_the_master_key_is_disposed()
    {
        var key = NewKey();
        var ciphertext = new MemoryStream();
        var encrypting = new EncryptingStream(ciphertext, key, leaveOpen: true, chunkSize: SmallChunk);
        var decrypting = new DecryptingStream(new MemoryStream(Encrypt(Plaintext(100), key)), key);
        Assert.Equal(0, decrypting.ReadByte() - Plaintext(100)[0]); // the header is read: file key derived

        key.Dispose();
        encrypting.Write(Plaintext(200));
        encrypting.Dispose();
        var rest = new MemoryStream();
        decrypting.CopyTo(rest);

        using var again = NewKey();
        Assert.Equal(Plaintext(200), Decrypt(ciphertext.ToArray(), again));
        Assert.Equal(Plaintext(100)[1..], rest.ToArray());
    }

    [Fact]
    public void Dispose_is_idempotent_and_honours_leaveOpen()
    {
        using var key = NewKey();
        var kept = new MemoryStream();
        var encrypting = new EncryptingStream(kept, key, leaveOpen: true);
        encrypting.Write(Plaintext(10));
        encrypting.Dispose();
        long length = kept.Length;
        encrypting.Dispose();
        Assert.Equal(length, kept.Length);
        Assert.True(kept.CanWrite);

        var closed = new MemoryStream();
        new EncryptingStream(closed, key).Dispose();
        Assert.False(closed.CanWrite);

        var source = new MemoryStream(kept.ToArray());
        var decrypting = new DecryptingStream(source, key, leaveOpen: true);
        decrypting.Dispose();
        decrypting.Dispose();
        Assert.True(source.CanRead);
        new DecryptingStream(source, key).Dispose();
        Assert.False(source.CanRead);
    }

    [Fact]
    public void FlushFinalChunk_seals_the_stream_once()
    {
        using var key = NewKey();
        var output = new MemoryStream();
        using var encrypting = new EncryptingStream(output, key, leaveOpen: true, chunkSize: SmallChunk);
        encrypting.Write(Plaintext(10));

        encrypting.FlushFinalChunk();
        encrypting.FlushFinalChunk();
        long sealedLength = output.Length;
        encrypting.Dispose();

        Assert.Equal(Header + 10 + Tag, sealedLength);
        Assert.Equal(sealedLength, output.Length);
        Assert.Throws<ObjectDisposedException>(() => encrypting.Write(Plaintext(1)));
        Assert.Equal(Plaintext(10), Decrypt(output.ToArray(), key));
    }

    [Fact]
    public void Writing_after_the_final_chunk_is_refused()
    {
        using var key = NewKey();
        using var encrypting = new EncryptingStream(new MemoryStream(), key, chunkSize: SmallChunk);
        encrypting.FlushFinalChunk();

        Assert.False(encrypting.CanWrite);
        Assert.Throws<InvalidOperationException>(() => encrypting.Write(Plaintext(1)));
    }

    [Fact]
    public void Streams_are_one_way_and_cannot_seek()
    {
        using var key = NewKey();
        using var encrypting = new EncryptingStream(new MemoryStream(), key);
        using var decrypting = new DecryptingStream(new MemoryStream(), key);

        Assert.False(encrypting.CanSeek);
        Assert.False(encrypting.CanRead);
        Assert.True(encrypting.CanWrite);
        Assert.False(decrypting.CanSeek);
        Assert.True(decrypting.CanRead);
        Assert.False(decrypting.CanWrite);
        Assert.Throws<NotSupportedException>(() => encrypting.Read(new byte[1], 0, 1));
        Assert.Throws<NotSupportedException>(() => decrypting.Write(new byte[1], 0, 1));
        Assert.Throws<NotSupportedException>(() => decrypting.Seek(0, SeekOrigin.Begin));
        Assert.Throws<NotSupportedException>(() => encrypting.Length);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(15)]
    [InlineData(16 * 1024 * 1024 + 1)]
    public void Chunk_sizes_outside_the_format_are_refused(int chunkSize)
    {
        using var key = NewKey();
        Assert.Throws<ArgumentOutOfRangeException>(() => new EncryptingStream(new MemoryStream(), key, chunkSize: chunkSize));
    }

    [Fact]
    public void A_failed_write_to_the_inner_stream_is_not_followed_by_a_final_chunk()
    {
        using var key = NewKey();
        var inner = new FailingWriteStream(failAfterBytes: 100);
        var encrypting = new EncryptingStream(inner, key, chunkSize: SmallChunk);

        Assert.Throws<IOException>(() => encrypting.Write(Plaintext(10 * SmallChunk)));
        encrypting.Dispose(); // must not throw again or write more

        Assert.Equal(100, inner.Written);
    }

    private sealed class FailingWriteStream(int failAfterBytes) : Stream
    {
        public int Written { get; private set; }

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            int room = failAfterBytes - Written;
            if (buffer.Length > room)
            {
                Written += room;
                throw new IOException("disk full");
            }
            Written += buffer.Length;
        }

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => Written;
        public override long Position { get => Written; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
