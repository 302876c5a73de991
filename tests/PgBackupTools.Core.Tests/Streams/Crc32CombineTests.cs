using PgBackupTools.Core.Streams;

namespace PgBackupTools.Core.Tests.Streams;

public class Crc32CombineTests
{
    [Theory]
    [InlineData(0, 0)]
    [InlineData(0, 1)]
    [InlineData(1, 0)]
    [InlineData(1, 1)]
    [InlineData(7, 1000)]
    [InlineData(65536, 65537)]
    [InlineData(300_000, 1)]
    public void Combining_two_crcs_equals_the_crc_of_both_pieces(int first, int second)
    {
        var data = TestData.Random(first + second, seed: first ^ second);
        uint combined = Crc32Combine.Combine(
            Crc32Reference.Compute(data.AsSpan(0, first)), Crc32Reference.Compute(data.AsSpan(first)), second);
        Assert.Equal(Crc32Reference.Compute(data), combined);
    }

    [Fact]
    public void The_reference_crc_is_the_standard_one()
    {
        Assert.Equal(0xCBF43926u, Crc32Reference.Compute("123456789"u8)); // the CRC-32 check value
    }
}
