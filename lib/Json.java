//DEPS com.fasterxml.jackson.core:jackson-databind:2.21.3
//SOURCES Cli.java

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.databind.ObjectMapper;

/** The one Jackson pin and the shared, thread-safe mapper and factory. */
public final class Json {
    private Json() {}

    public static final ObjectMapper MAPPER = new ObjectMapper();
    public static final JsonFactory FACTORY = MAPPER.getFactory();
}
