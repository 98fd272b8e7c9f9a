using RecoverableStreams.Hosting.Connection;

namespace RecoverableStreams.Tests.Hosting;

public sealed class ConnectionStringRedactorTests
{
    [TestCase("redis:6379,password=s3cret,ssl=true", "redis:6379,password=*****,ssl=true")]
    [TestCase("redis:6379,Password = s3cret", "redis:6379,Password=*****")]
    [TestCase("redis://user:s3cret@redis:6379", "redis://user:*****@redis:6379")]
    [TestCase("rediss://s3cret@redis:6379", "rediss://*****@redis:6379")]
    [TestCase("redis:6379,allowAdmin=true", "redis:6379,allowAdmin=true")]
    public void Passwords_are_masked(string configuration, string expected)
    {
        var redacted = ConnectionStringRedactor.Redact(configuration);
        Assert.That(redacted, Is.EqualTo(expected));
        Assert.That(redacted, Does.Not.Contain("s3cret"));
    }
}
